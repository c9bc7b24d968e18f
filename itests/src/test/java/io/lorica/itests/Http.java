package io.lorica.itests;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;

/** A bounded HTTP GET against the container's own port on the loopback address. */
final class Http {

    record Response(int status, String body) {
    }

    private Http() {
    }

    static Response get(String path) {
        int port = Integer.parseInt(System.getProperty(LoricaKaraf.HTTP_PORT));
        try {
            HttpURLConnection connection = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
            connection.setConnectTimeout(2_000);
            connection.setReadTimeout(5_000);
            connection.setInstanceFollowRedirects(false);
            int status = connection.getResponseCode();
            InputStream in = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
            String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            connection.disconnect();
            return new Response(status, body);
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + path + " failed: " + e.getMessage(), e);
        }
    }
}

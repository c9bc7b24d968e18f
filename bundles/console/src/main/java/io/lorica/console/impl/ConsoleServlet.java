package io.lorica.console.impl;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

/** Serves the console page at the configured path and the status document at {@code <path>/api/status}. */
final class ConsoleServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    private final transient Supplier<String> status;
    private final byte[] page;

    ConsoleServlet(Supplier<String> status) {
        this.status = status;
        try (InputStream in = ConsoleServlet.class.getResourceAsStream("/console/index.html")) {
            if (in == null) {
                throw new IllegalStateException("console page /console/index.html is missing from the bundle");
            }
            this.page = in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the console page", e);
        }
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String path = request.getPathInfo() == null ? "/" : request.getPathInfo();
        response.setHeader("Cache-Control", "no-store");
        response.setHeader("X-Content-Type-Options", "nosniff");
        switch (path) {
            case "/", "/index.html" -> {
                if (request.getPathInfo() == null) {
                    // make relative links of the page resolve under the console path
                    response.sendRedirect(request.getRequestURI() + "/");
                    return;
                }
                response.setContentType("text/html;charset=utf-8");
                response.getOutputStream().write(page);
            }
            case "/api/status" -> {
                response.setContentType("application/json;charset=utf-8");
                response.getOutputStream().write(status.get().getBytes(StandardCharsets.UTF_8));
            }
            default -> response.sendError(HttpServletResponse.SC_NOT_FOUND, "no such console resource: " + path);
        }
    }
}

package io.lorica.loader.source;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Objects;

/**
 * A file could not be fetched from the hub into the {@link HubCache}: offline, no network, DNS failure, refused or
 * timed-out connection, HTTP error (404, 401, ...), truncated or oversized body, checksum mismatch. The message names
 * the repository, the file, the endpoint and the cause, and says how to do without the network. Nothing partial is
 * left in the cache when this is thrown.
 */
public class HubDownloadException extends UncheckedIOException {

    private static final long serialVersionUID = 1L;

    private final String repoId;
    private final String file;
    private final String endpoint;

    /**
     * @param repoId   the repository, {@code org/name}
     * @param file     the weight name, or a description such as "(weight name to infer)"
     * @param endpoint the hub endpoint
     * @param message  the complete message
     * @param cause    the underlying failure
     */
    public HubDownloadException(String repoId, String file, String endpoint, String message, IOException cause) {
        super(message, Objects.requireNonNull(cause, "cause"));
        this.repoId = repoId;
        this.file = file;
        this.endpoint = endpoint;
    }

    /** The repository id, {@code org/name}. */
    public String repoId() {
        return repoId;
    }

    /** The file in the repository (or a description when it was to be inferred). */
    public String file() {
        return file;
    }

    /** The endpoint that was asked, e.g. {@code https://huggingface.co}. */
    public String endpoint() {
        return endpoint;
    }
}

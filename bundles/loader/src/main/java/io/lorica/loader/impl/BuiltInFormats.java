package io.lorica.loader.impl;

import java.util.List;

import io.lorica.api.format.AdapterFormat;
import io.lorica.loader.format.DiffusersFormat;
import io.lorica.loader.format.KohyaFormat;
import io.lorica.loader.format.LycorisFormat;

/**
 * The formats Lorica ships, with their service rankings. They recognise disjoint key sets, so the ranking only
 * orders them for display and for ties; a third-party format with a higher ranking is tried first.
 */
public final class BuiltInFormats {

    /** A built-in format and its ranking. */
    public record BuiltIn(AdapterFormat format, int ranking) {
    }

    /** Negative ids never collide with framework service ids; increasing ones keep the listed order on ties. */
    private static final long FIRST_ID = Long.MIN_VALUE;

    private BuiltInFormats() {
    }

    /** The built-in formats, in ranking order. */
    public static List<BuiltIn> all() {
        return List.of(new BuiltIn(new DiffusersFormat(), 0), new BuiltIn(new KohyaFormat(), 0),
                new BuiltIn(new LycorisFormat(), -10));
    }

    /** Adds every built-in format to {@code registry} (for use without a framework, e.g. the command line). */
    public static void register(FormatRegistry registry) {
        long id = FIRST_ID;
        for (BuiltIn builtIn : all()) {
            registry.add(builtIn.format(), builtIn.ranking(), id++);
        }
    }
}

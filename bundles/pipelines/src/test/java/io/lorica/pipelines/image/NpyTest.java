package io.lorica.pipelines.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {

    @TempDir
    Path dir;

    /** The header of {@code np.save(f, np.zeros((1, 4, 8, 8), np.float32))} (numpy 2.x), 128 bytes. */
    private static final String NUMPY_HEADER_1_4_8_8 = "\u0093NUMPY\u0001\u0000v\u0000"
            + "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), }" + " ".repeat(52) + "\n";

    // Files written by numpy 2.4 (np.save / np.lib.format.write_array), base64.
    /** {@code np.array([0, 1, -2, 65504, 6.1035156e-05, 5.9604645e-08, inf, -inf, 0.333, -0.0], np.float16)}. */
    private static final String F2_FILE = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEwLCksIH0gICAg"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAA8AMD/ewAEAQAAfAD8"
            + "VDUAgA==";
    /** {@code np.array([[1/3, -2.5e-8], [1e300, 0.1]], np.float64)}. */
    private static final String F8_FILE = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAg"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIApVVVVVVVXVP0ivvJry11q+"
            + "nHUAiDzkN36amZmZmZm5Pw==";
    /** {@code np.ones((2, 2), np.float32)} as format 2.0. */
    private static final String V2_FILE = "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0g"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/";
    /** {@code np.ones((2, 2), np.float32)} as format 3.0. */
    private static final String V3_FILE = "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0g"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/";
    /** {@code np.asfortranarray(np.ones((2, 3), np.float32))}. */
    private static final String FORTRAN_FILE = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAg"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/"
            + "AACAPwAAgD8=";
    /** {@code np.ones((2,), np.int32)}. */
    private static final String INT32_FILE = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAg"
            + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAQAAAA==";

    private Path file(String name, byte[] content) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, content);
        return file;
    }

    private static byte[] base64(String data) {
        return Base64.getDecoder().decode(data);
    }

    private static float[] ramp(int n) {
        float[] data = new float[n];
        for (int i = 0; i < n; i++) {
            data[i] = (i - n / 2f) / 7f;
        }
        return data;
    }

    @Test
    void read_handMadeVersion1File_givesShapeAndData() throws IOException {
        float[] data = ramp(256);
        ByteBuffer body = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : data) {
            body.putFloat(v);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(NUMPY_HEADER_1_4_8_8.getBytes(StandardCharsets.ISO_8859_1));
        bytes.writeBytes(body.array());

        NpyArray array = Npy.read(file("latents.npy", bytes.toByteArray()));

        assertArrayEquals(new long[] {1, 4, 8, 8}, array.shape());
        assertArrayEquals(data, array.data());
    }

    @Test
    void write_headerIsByteForByteNumpys() throws IOException {
        Path file = dir.resolve("out.npy");
        float[] data = ramp(256);
        Npy.write(file, new NpyArray(new long[] {1, 4, 8, 8}, data));

        byte[] written = Files.readAllBytes(file);
        byte[] header = NUMPY_HEADER_1_4_8_8.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(128, header.length);
        assertEquals(128 + 256 * 4, written.length);
        assertArrayEquals(header, Arrays.copyOf(written, 128));
        ByteBuffer body = ByteBuffer.wrap(written, 128, 256 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : data) {
            assertEquals(Float.floatToRawIntBits(v), Float.floatToRawIntBits(body.getFloat()));
        }
    }

    @Test
    void header_otherShapes_matchNumpy() {
        // From np.save of float32 zeros of each shape (numpy 2.4): the dict, spare space, padding to 128 bytes.
        assertHeader("()", 62, new long[0]);
        assertHeader("(5,)", 60, new long[] {5});
        assertHeader("(2, 3)", 58, new long[] {2, 3});
        assertHeader("(1, 4, 128, 128)", 48, new long[] {1, 4, 128, 128});
    }

    private static void assertHeader(String shape, int spaces, long[] dims) {
        String expected = "\u0093NUMPY\u0001\u0000v\u0000{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
                + " ".repeat(spaces) + "\n";
        assertEquals(expected, new String(Npy.header(dims), StandardCharsets.ISO_8859_1));
    }

    @Test
    void write_thenRead_roundTrips() throws IOException {
        float[] data = ramp(2 * 3 * 5);
        data[3] = Float.NaN;
        data[4] = Float.NEGATIVE_INFINITY;
        data[5] = -0.0f;
        data[6] = Float.MIN_VALUE;
        NpyArray array = new NpyArray(new long[] {2, 3, 5}, data);
        Path file = dir.resolve("roundtrip.npy");

        Npy.write(file, array);

        assertEquals(array, Npy.read(file));
        assertEquals(128 + data.length * 4, Files.size(file));
    }

    @Test
    void write_thenRead_scalarAndEmptyArrays() {
        Path scalar = dir.resolve("scalar.npy");
        Npy.write(scalar, new NpyArray(new long[0], new float[] {4.5f}));
        assertEquals(new NpyArray(new long[0], new float[] {4.5f}), Npy.read(scalar));

        Path empty = dir.resolve("empty.npy");
        Npy.write(empty, new NpyArray(new long[] {0, 3}, new float[0]));
        assertEquals(new NpyArray(new long[] {0, 3}, new float[0]), Npy.read(empty));
    }

    @Test
    void write_largeArray_roundTripsAcrossChunks() {
        float[] data = ramp(1 * 4 * 128 * 128);
        Path file = dir.resolve("big.npy");
        Npy.write(file, new NpyArray(new long[] {1, 4, 128, 128}, data));
        assertArrayEquals(data, Npy.read(file).data());
    }

    @Test
    void read_float16_convertsExactly() throws IOException {
        NpyArray array = Npy.read(file("half.npy", base64(F2_FILE)));
        assertArrayEquals(new long[] {10}, array.shape());
        assertArrayEquals(new float[] {0f, 1f, -2f, 65504f, 6.103515625e-05f, 5.960464477539063e-08f,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.3330078125f, -0.0f}, array.data());
    }

    @Test
    void halfToFloat_everyFiniteValue_matchesTheDefinition() {
        for (int b = 0; b < 0x10000; b++) {
            final int bits = b;
            int exponent = (bits >>> 10) & 0x1f;
            int mantissa = bits & 0x3ff;
            double sign = (bits & 0x8000) != 0 ? -1 : 1;
            float actual = Npy.halfToFloat((short) bits);
            if (exponent == 0x1f) {
                assertEquals(mantissa == 0, Float.isInfinite(actual), () -> Integer.toHexString(bits));
                assertEquals(mantissa != 0, Float.isNaN(actual), () -> Integer.toHexString(bits));
                continue;
            }
            double expected = exponent == 0
                    ? sign * mantissa * Math.pow(2, -24)
                    : sign * (1 + mantissa / 1024.0) * Math.pow(2, exponent - 15);
            assertEquals((float) expected, actual, () -> Integer.toHexString(bits));
            assertEquals(sign < 0, Float.floatToRawIntBits(actual) < 0, () -> Integer.toHexString(bits));
        }
    }

    @Test
    void read_float64_roundsToFloat() throws IOException {
        NpyArray array = Npy.read(file("double.npy", base64(F8_FILE)));
        assertArrayEquals(new long[] {2, 2}, array.shape());
        assertArrayEquals(new float[] {0.33333334f, -2.5e-08f, Float.POSITIVE_INFINITY, 0.1f}, array.data());
    }

    @Test
    void read_formatVersions2And3() throws IOException {
        NpyArray ones = new NpyArray(new long[] {2, 2}, new float[] {1, 1, 1, 1});
        assertEquals(ones, Npy.read(file("v2.npy", base64(V2_FILE))));
        assertEquals(ones, Npy.read(file("v3.npy", base64(V3_FILE))));
    }

    @Test
    void read_fortranOrder_isRejected() throws IOException {
        Path file = file("fortran.npy", base64(FORTRAN_FILE));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("Fortran order")
                && e.getMessage().contains("expected C order"), e.getMessage());
    }

    @Test
    void read_int32_namesTheDtype() throws IOException {
        Path file = file("int.npy", base64(INT32_FILE));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("'<i4'")
                && e.getMessage().contains("expected '<f4', '<f2' or '<f8'"), e.getMessage());
    }

    @Test
    void read_bigEndian_isRejected() throws IOException {
        byte[] bytes = base64(V2_FILE);
        String text = new String(bytes, StandardCharsets.ISO_8859_1).replace("'<f4'", "'>f4'");
        Path file = file("be.npy", text.getBytes(StandardCharsets.ISO_8859_1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains("'>f4'"), e.getMessage());
    }

    @Test
    void read_wrongMagic_namesTheFile() throws IOException {
        Path file = file("image.npy", "\u0089PNG\r\n\u001a\n0123456789".getBytes(StandardCharsets.ISO_8859_1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void read_unsupportedVersion_isRejected() throws IOException {
        byte[] bytes = base64(V2_FILE);
        bytes[6] = 4;
        Path file = file("v4.npy", bytes);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains("version 4.0") && e.getMessage().contains("expected 1.0, 2.0 or 3.0"),
                e.getMessage());
    }

    @Test
    void read_truncatedData_saysWhatWasExpected() throws IOException {
        byte[] header = NUMPY_HEADER_1_4_8_8.getBytes(StandardCharsets.ISO_8859_1);
        byte[] bytes = Arrays.copyOf(header, header.length + 1000);
        Path file = file("short.npy", bytes);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("truncated")
                && e.getMessage().contains("expected 1024 bytes of <f4 data for shape (1, 4, 8, 8)")
                && e.getMessage().contains("found 1000"), e.getMessage());
    }

    @Test
    void read_truncatedHeader_saysWhatWasExpected() throws IOException {
        Path file = file("cut.npy", Arrays.copyOf(NUMPY_HEADER_1_4_8_8.getBytes(StandardCharsets.ISO_8859_1), 40));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("118-byte header"), e.getMessage());

        Path tiny = file("tiny.npy", new byte[] {(byte) 0x93, 'N', 'U'});
        e = assertThrows(IllegalArgumentException.class, () -> Npy.read(tiny));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void read_malformedHeader_isRejected() throws IOException {
        String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, }";
        Path file = file("bad.npy", versionOne(header));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains("malformed .npy header"), e.getMessage());

        Path missingKey = file("nokey.npy", versionOne("{'descr': '<f4', 'shape': (2,), }"));
        e = assertThrows(IllegalArgumentException.class, () -> Npy.read(missingKey));
        assertTrue(e.getMessage().contains("exactly the keys"), e.getMessage());
    }

    @Test
    void read_python2StyleHeader_isAccepted() throws IOException {
        byte[] header = versionOne("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L,)}");
        byte[] bytes = Arrays.copyOf(header, header.length + 8);
        ByteBuffer.wrap(bytes, header.length, 8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f);
        assertEquals(new NpyArray(new long[] {2}, new float[] {1.5f, -2f}), Npy.read(file("py2.npy", bytes)));
    }

    private static byte[] versionOne(String dict) {
        String header = dict + "\n";
        ByteBuffer out = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        out.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
        out.put(header.getBytes(StandardCharsets.ISO_8859_1));
        return out.array();
    }

    @Test
    void read_missingFile_namesIt() {
        Path file = dir.resolve("absent.npy");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void npyArray_copiesDefensively() {
        long[] shape = {2};
        float[] data = {1f, 2f};
        NpyArray array = new NpyArray(shape, data);
        shape[0] = 5;
        data[0] = 9f;
        assertArrayEquals(new long[] {2}, array.shape());
        assertArrayEquals(new float[] {1f, 2f}, array.data());
        array.data()[1] = 7f;
        array.shape()[0] = 7;
        assertArrayEquals(new float[] {1f, 2f}, array.data());
        assertArrayEquals(new long[] {2}, array.shape());
        assertNotSame(array.data(), array.data());
        assertEquals(2, array.size());
        assertEquals("NpyArray[shape=[2], float32 x 2]", array.toString());
    }

    @Test
    void npyArray_shapeMismatch_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new NpyArray(new long[] {2, 3}, new float[5]));
        assertEquals("shape [2, 3] holds 6 elements but data has 5: expected as many elements as the shape's product",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new NpyArray(new long[] {-1}, new float[0]));
    }
}

package io.lorica.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;

import org.junit.jupiter.api.Test;

/** TensorInfo and TensorData. */
class TensorDataTest {

    @Test
    void tensorInfo_whenDimensionNegative_rejectsNamingShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TensorInfo(DType.F32, new long[] {4, -1}));
        assertEquals("shape [4, -1] has negative dimension -1 at index 1, expected sizes >= 0", e.getMessage());
    }

    @Test
    void tensorInfo_whenElementCountOverflows_rejects() {
        assertThrows(IllegalArgumentException.class,
                () -> new TensorInfo(DType.F32, new long[] {Long.MAX_VALUE, 2}));
    }

    @Test
    void tensorInfo_scalarHasOneElement_andShapeIsCopied() {
        long[] shape = {};
        TensorInfo scalar = new TensorInfo(DType.F32, shape);
        assertEquals(1, scalar.elementCount());
        assertEquals(4, scalar.byteSize());
        long[] dims = {4, 320};
        TensorInfo info = new TensorInfo(DType.F16, dims);
        dims[0] = 99;
        info.shape()[1] = 99;
        assertArrayEquals(new long[] {4, 320}, info.shape());
        assertEquals("F16[4, 320]", info.toString());
        assertEquals(new TensorInfo(DType.F16, new long[] {4, 320}), info);
        assertThrows(IllegalArgumentException.class, () -> info.dim(2));
    }

    @Test
    void tensorData_whenBufferSizeDiffersFromShape_rejectsNamingBothSizes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TensorData(DType.F16, new long[] {2, 3}, ByteBuffer.allocate(10)));
        assertEquals("tensor F16[2, 3] needs 12 bytes but the buffer has 10", e.getMessage());
    }

    @Test
    void tensorData_viewsRemainingBytesReadOnlyLittleEndian_andIgnoresCallerPositionChanges() {
        ByteBuffer source = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        source.putInt(0xDEAD).putFloat(1.5f).putFloat(-2f).position(4);
        TensorData tensor = new TensorData(DType.F32, new long[] {2}, source);
        ByteBuffer view = tensor.data();
        assertTrue(view.isReadOnly());
        assertEquals(ByteOrder.LITTLE_ENDIAN, view.order());
        assertEquals(1.5f, view.getFloat());
        assertEquals(0, tensor.data().position());
        assertThrows(ReadOnlyBufferException.class, () -> tensor.data().put((byte) 1));
        assertArrayEquals(new float[] {1.5f, -2f}, tensor.toFloatArray());
    }

    @Test
    void tensorData_shapeAndBytesAreCopiedDefensively() {
        long[] shape = {2};
        byte[] bytes = new byte[8];
        TensorData tensor = TensorData.of(DType.F32, shape, bytes);
        shape[0] = 5;
        bytes[3] = 0x3f;
        tensor.shape()[0] = 7;
        assertArrayEquals(new long[] {2}, tensor.shape());
        assertArrayEquals(new float[] {0f, 0f}, tensor.toFloatArray());
    }

    @Test
    void toFloatArray_convertsHalfBfloatDoubleAndIntegers() {
        ByteBuffer half = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x0001).putShort((short) 0x7C00)
                .flip();
        assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, Float.POSITIVE_INFINITY},
                new TensorData(DType.F16, new long[] {4}, half).toFloatArray());
        ByteBuffer bf16 = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0x3FC0).flip();
        assertArrayEquals(new float[] {1.5f}, new TensorData(DType.BF16, new long[] {}, bf16).toFloatArray());
        ByteBuffer f64 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.25).flip();
        assertArrayEquals(new float[] {0.25f}, new TensorData(DType.F64, new long[] {1}, f64).toFloatArray());
        ByteBuffer i64 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(-7).flip();
        assertArrayEquals(new float[] {-7f}, new TensorData(DType.I64, new long[] {1}, i64).toFloatArray());
        assertTrue(Float.isNaN(TensorData.halfToFloat((short) 0x7E00)));
    }

    @Test
    void reshape_whenElementCountKept_sharesBytes_otherwiseRejects() {
        TensorData matrix = TensorData.ofFloats(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        TensorData conv = matrix.reshape(2, 3, 1, 1);
        assertArrayEquals(new long[] {2, 3, 1, 1}, conv.shape());
        assertArrayEquals(matrix.toFloatArray(), conv.toFloatArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> matrix.reshape(4, 2));
        assertTrue(e.getMessage().startsWith("cannot reshape F32[2, 3] to [4, 2]"), e.getMessage());
    }

    @Test
    void ofFloats_whenValueCountDiffersFromShape_rejects() {
        assertThrows(IllegalArgumentException.class, () -> TensorData.ofFloats(new long[] {2, 2}, 1, 2, 3));
    }

    @Test
    void equals_comparesTypeShapeAndBytes() {
        TensorData a = TensorData.ofFloats(new long[] {2}, 1, 2);
        assertEquals(a, TensorData.ofFloats(new long[] {2}, 1, 2));
        assertEquals(a.hashCode(), TensorData.ofFloats(new long[] {2}, 1, 2).hashCode());
        assertNotEquals(a, TensorData.ofFloats(new long[] {2}, 1, 3));
        assertNotEquals(a, TensorData.ofFloats(new long[] {2, 1}, 1, 2));
        assertEquals("TensorData[F32[2]]", a.toString());
    }
}

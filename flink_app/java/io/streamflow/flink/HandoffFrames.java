package io.streamflow.flink;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * The customer stage's handed-on events, as bytes (ADR 0012): one frame an event, frames
 * concatenated. A frame is a little-endian header, the payload's length (int32), the merchant
 * id's length (uint16) and the event's ingestion stamp (int64), then the merchant id (UTF-8) and
 * the payload ({@code flink_app.job.handoff_frame} writes them). Bytes cross the JVM and Python
 * and Flink's serializers in one copy, where strings cost a character at a time.
 */
public final class HandoffFrames {

    /** Bytes before the merchant id: payload length, merchant id length, stamp. */
    public static final int HEADER_BYTES = 4 + 2 + 8;

    private HandoffFrames() {}

    /** The frames of {@code frames}, each its own array, in order. */
    public static List<byte[]> split(byte[] frames) {
        List<byte[]> split = new ArrayList<>();
        ByteBuffer buffer = ByteBuffer.wrap(frames).order(ByteOrder.LITTLE_ENDIAN);
        int at = 0;
        while (at < frames.length) {
            int length = HEADER_BYTES + (buffer.getShort(at + 4) & 0xFFFF) + buffer.getInt(at);
            byte[] frame = new byte[length];
            System.arraycopy(frames, at, frame, 0, length);
            split.add(frame);
            at += length;
        }
        return split;
    }

    /** The frame's ingestion stamp. */
    public static long stamp(byte[] frame) {
        return ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN).getLong(6);
    }

    /** The frame's merchant shard: {@link MiniBatchLines#shardOf} of its merchant id (CRC-32 of its UTF-8 bytes). */
    public static int shardOf(byte[] frame, int shards) {
        int idLength = ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN).getShort(4) & 0xFFFF;
        CRC32 crc = new CRC32();
        crc.update(frame, HEADER_BYTES, idLength);
        return (int) (crc.getValue() % shards);
    }

    /** The frames concatenated. */
    public static byte[] join(List<byte[]> frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] frame : frames) {
            out.write(frame, 0, frame.length);
        }
        return out.toByteArray();
    }
}

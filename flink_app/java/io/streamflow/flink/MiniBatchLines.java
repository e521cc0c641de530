package io.streamflow.flink;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Raw lines gathered into mini-batches per shard of customer ids, so that Python is called once
 * per batch instead of once per event (the idea of Flink SQL's {@code table.exec.mini-batch}).
 *
 * <p>Each line is keyed by {@link RoutingKey#customerId} (after its origin, if it has one) and goes to shard {@link #shardOf}. A
 * batch leaves as {@code Row(shard, [key, line, key, line, ...])}, lines in arrival order, when
 * it holds {@code size} lines, every {@code allowLatencyMs} (all batches), before each checkpoint
 * barrier and at the end of the input. Since every batch leaves before the barrier, a checkpoint
 * never holds buffered lines: the operator keeps no state and exactly-once needs nothing more.
 *
 * <p>{@code stamped} (the two-entity job, ADR 0012): each line also gets its ingestion stamp, a
 * number that grows with every line (the processing time in microseconds, or one more than the
 * last stamp), and a batch is {@code [key, stamp, line, ...]}. After all batches have left, the
 * operator emits a watermark equal to the last stamp: every line stamped at or below it has
 * left. The merchant stage ({@link MerchantBatches}) orders by these stamps, so that each
 * merchant sees its events in ingestion order, however the customer stage's batches interleave.
 */
public final class MiniBatchLines extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<String, Row>, BoundedOneInput, ProcessingTimeCallback {

    private static final long serialVersionUID = 1L;

    private final int shards;
    private final int size;
    private final long allowLatencyMs;
    private final boolean stamped;
    private transient List<List<String>> batches;
    private transient long lastStamp;
    private transient long lastWatermark;

    public MiniBatchLines(int shards, int size, long allowLatencyMs) {
        this(shards, size, allowLatencyMs, false);
    }

    /**
     * With {@code stamped}, each line travels with its ingestion stamp, and watermarks follow the
     * batches. A line that begins with its origin and a newline (the Kafka source's
     * {@code KafkaLines}; {@code JsonLinesFormat} with an origin) is keyed by what follows it, and travels whole.
     */
    public MiniBatchLines(int shards, int size, long allowLatencyMs, boolean stamped) {
        if (shards < 1 || size < 1 || allowLatencyMs < 1) {
            throw new IllegalArgumentException("shards, size and allowLatencyMs must be positive");
        }
        this.shards = shards;
        this.size = size;
        this.allowLatencyMs = allowLatencyMs;
        this.stamped = stamped;
    }

    /** The shard of a customer id: CRC-32 of its UTF-8 bytes modulo {@code shards}. */
    public static int shardOf(String customerId, int shards) {
        CRC32 crc = new CRC32();
        crc.update(customerId.getBytes(StandardCharsets.UTF_8));
        return (int) (crc.getValue() % shards);
    }

    /** The shard of each customer id on standard input (one per line) for {@code args[0]} shards: the parity test reads them. */
    public static void main(String[] args) throws java.io.IOException {
        int shards = Integer.parseInt(args[0]);
        java.io.BufferedReader input = new java.io.BufferedReader(
                new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String id = input.readLine(); id != null; id = input.readLine()) {
            System.out.println(shardOf(id, shards));
        }
        System.out.flush();
    }

    @Override
    public void open() throws Exception {
        super.open();
        batches = new ArrayList<>(shards);
        for (int shard = 0; shard < shards; shard++) {
            batches.add(new ArrayList<>(width() * size));
        }
        lastStamp = Long.MIN_VALUE;
        lastWatermark = Long.MIN_VALUE;
        getProcessingTimeService().scheduleWithFixedDelay(this, allowLatencyMs, allowLatencyMs);
    }

    @Override
    public void processElement(StreamRecord<String> record) {
        String line = record.getValue();
        String key = RoutingKey.customerId(RoutingKey.value(line)); // after its origin, if it has one
        int shard = shardOf(key, shards);
        List<String> batch = batches.get(shard);
        batch.add(key);
        if (stamped) {
            lastStamp = Math.max(lastStamp + 1, getProcessingTimeService().getCurrentProcessingTime() * 1000);
            batch.add(Long.toString(lastStamp));
        }
        batch.add(line);
        if (batch.size() >= width() * size) {
            emit(shard);
        }
    }

    /** Buffered lines leave before a watermark passes them (the source's last, at the end of a bounded input). */
    @Override
    public void processWatermark(Watermark mark) throws Exception {
        emitAll();
        lastWatermark = Math.max(lastWatermark, mark.getTimestamp());
        super.processWatermark(mark);
    }

    @Override
    public void onProcessingTime(long time) {
        emitAll();
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        emitAll();
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void endInput() {
        emitAll();
    }

    @Override
    public void finish() throws Exception {
        emitAll();
        super.finish();
    }

    private int width() {
        return stamped ? 3 : 2;
    }

    private void emitAll() {
        for (int shard = 0; shard < shards; shard++) {
            if (!batches.get(shard).isEmpty()) {
                emit(shard);
            }
        }
        if (stamped && lastStamp > lastWatermark) {
            lastWatermark = lastStamp;
            output.emitWatermark(new Watermark(lastStamp));
        }
    }

    private void emit(int shard) {
        List<String> batch = batches.get(shard);
        output.collect(new StreamRecord<>(Row.of(Integer.toString(shard), batch.toArray(new String[0]))));
        batch.clear();
    }
}

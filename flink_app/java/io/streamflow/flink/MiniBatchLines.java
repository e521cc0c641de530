package io.streamflow.flink;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Raw lines gathered into mini-batches per shard of customer ids, so that Python is called once
 * per batch instead of once per event (the idea of Flink SQL's {@code table.exec.mini-batch}).
 *
 * <p>Each line is keyed by {@link RoutingKey#customerId} (after its origin, from Kafka) and goes to shard {@link #shardOf}. A
 * batch leaves as {@code Row(shard, [key, line, key, line, ...])}, lines in arrival order, when
 * it holds {@code size} lines, every {@code allowLatencyMs} (all batches), before each checkpoint
 * barrier and at the end of the input. Since every batch leaves before the barrier, a checkpoint
 * never holds buffered lines: the operator keeps no state and exactly-once needs nothing more.
 */
public final class MiniBatchLines extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<String, Row>, BoundedOneInput, ProcessingTimeCallback {

    private static final long serialVersionUID = 1L;

    private final int shards;
    private final int size;
    private final long allowLatencyMs;
    private final boolean originFirst;
    private transient List<List<String>> batches;

    public MiniBatchLines(int shards, int size, long allowLatencyMs) {
        this(shards, size, allowLatencyMs, false);
    }

    /**
     * With {@code originFirst}, each line begins with its origin and a newline (the Kafka source's
     * {@code KafkaLines}): the key is read after it, and the line travels whole.
     */
    public MiniBatchLines(int shards, int size, long allowLatencyMs, boolean originFirst) {
        if (shards < 1 || size < 1 || allowLatencyMs < 1) {
            throw new IllegalArgumentException("shards, size and allowLatencyMs must be positive");
        }
        this.shards = shards;
        this.size = size;
        this.allowLatencyMs = allowLatencyMs;
        this.originFirst = originFirst;
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
            batches.add(new ArrayList<>(2 * size));
        }
        getProcessingTimeService().scheduleWithFixedDelay(this, allowLatencyMs, allowLatencyMs);
    }

    @Override
    public void processElement(StreamRecord<String> record) {
        String line = record.getValue();
        String key = RoutingKey.customerId(originFirst ? RoutingKey.value(line) : line);
        int shard = shardOf(key, shards);
        List<String> batch = batches.get(shard);
        batch.add(key);
        batch.add(line);
        if (batch.size() >= 2 * size) {
            emit(shard);
        }
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

    private void emitAll() {
        for (int shard = 0; shard < shards; shard++) {
            if (!batches.get(shard).isEmpty()) {
                emit(shard);
            }
        }
    }

    private void emit(int shard) {
        List<String> batch = batches.get(shard);
        output.collect(new StreamRecord<>(Row.of(Integer.toString(shard), batch.toArray(new String[0]))));
        batch.clear();
    }
}

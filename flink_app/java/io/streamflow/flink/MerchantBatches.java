package io.streamflow.flink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * The customer stage's accepted events, per shard of merchant ids, released to the merchant stage
 * in ingestion order (ADR 0012). A keyed operator: its key is the merchant shard.
 *
 * <p>Input: {@code Row(shard, frames)} from {@link MerchantShards} ({@link HandoffFrames}: merchant,
 * stamp and payload an event), the stamp being the line's ingestion stamp ({@link MiniBatchLines},
 * {@code stamped}). The events
 * wait in the shard's keyed state until the watermark passes them: by then every line ingested
 * before them has left the customer stage, whichever batch, task or channel it went through. An
 * event-time timer at or after the newest stamp of each input record fires the release: the shard's
 * waiting events up to the watermark leave sorted by stamp, as {@code Row(shard, frames)}, at most
 * {@code size} a batch. So each merchant sees its events in the order they
 * were ingested. Waiting events and timers are Flink state: checkpointed, and moved with their
 * shard when the parallelism changes.
 */
public final class MerchantBatches extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<Row, Row>, Triggerable<Row, VoidNamespace> {

    private static final long serialVersionUID = 1L;

    private final int size;
    private final long releaseEvery;
    private transient ListState<byte[]> waiting;
    private transient InternalTimerService<VoidNamespace> timers;

    /**
     * Batches of at most {@code size} events; a shard's release is due at the first multiple of
     * {@code releaseEveryMs} (in stamp units) at or after its newest stamp, so that a shard holds at
     * most one timer per interval however many records reach it.
     */
    public MerchantBatches(int size, long releaseEveryMs) {
        if (size < 1 || releaseEveryMs < 1) {
            throw new IllegalArgumentException("size and releaseEveryMs must be positive");
        }
        this.size = size;
        this.releaseEvery = releaseEveryMs * 1000; // stamps are microseconds
    }

    @Override
    public void open() throws Exception {
        super.open();
        ListStateDescriptor<byte[]> descriptor =
                new ListStateDescriptor<>("waiting-events", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        waiting = getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, descriptor);
        timers = getInternalTimerService("merchant-release", VoidNamespaceSerializer.INSTANCE, this);
    }

    @Override
    public void processElement(StreamRecord<Row> record) throws Exception {
        byte[] frames = (byte[]) record.getValue().getField(1);
        long newest = Long.MIN_VALUE;
        for (byte[] frame : HandoffFrames.split(frames)) {
            waiting.add(frame);
            newest = Math.max(newest, HandoffFrames.stamp(frame));
        }
        if (newest != Long.MIN_VALUE) {
            long due = Math.floorDiv(newest + releaseEvery - 1, releaseEvery) * releaseEvery;
            timers.registerEventTimeTimer(VoidNamespace.INSTANCE, due);
        }
    }

    @Override
    public void onEventTime(InternalTimer<Row, VoidNamespace> timer) throws Exception {
        long watermark = timers.currentWatermark();
        Iterable<byte[]> stored = waiting.get();
        if (stored == null) { // released by an earlier timer of the shard
            return;
        }
        List<byte[]> events = new ArrayList<>();
        for (byte[] event : stored) {
            events.add(event);
        }
        long[] stamps = new long[events.size()];
        Integer[] order = new Integer[events.size()];
        for (int index = 0; index < stamps.length; index++) {
            stamps[index] = HandoffFrames.stamp(events.get(index));
            order[index] = index;
        }
        Arrays.sort(order, Comparator.comparingLong(index -> stamps[index])); // stable: ties keep arrival order
        String shard = (String) timer.getKey().getField(0);
        List<byte[]> batch = new ArrayList<>(size);
        List<byte[]> still = new ArrayList<>();
        for (Integer index : order) {
            byte[] event = events.get(index);
            if (stamps[index] > watermark) {
                still.add(event);
                continue;
            }
            batch.add(event);
            if (batch.size() >= size) {
                emit(shard, batch);
            }
        }
        if (!batch.isEmpty()) {
            emit(shard, batch);
        }
        if (still.isEmpty()) {
            waiting.clear();
        } else {
            waiting.update(still);
        }
    }

    @Override
    public void onProcessingTime(InternalTimer<Row, VoidNamespace> timer) {}

    private void emit(String shard, List<byte[]> batch) {
        output.collect(new StreamRecord<>(Row.of(shard, HandoffFrames.join(batch))));
        batch.clear();
    }
}

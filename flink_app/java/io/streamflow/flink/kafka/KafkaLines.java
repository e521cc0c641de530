package io.streamflow.flink.kafka;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.util.Collector;

/**
 * Each Kafka record as a raw line that names where it came from, for the Kafka source.
 *
 * <p>The line is {@code kafka:<topic>/<partition>@<offset>}, a newline, then the record's value as it
 * landed: its bytes, one character each (ISO-8859-1), exactly as {@code JsonLinesFormat} carries a
 * file's lines, so the scoring function hands the parser the same bytes and a bad record gets the
 * same error code as in batch. Topic names cannot hold a newline, so the first newline ends the
 * origin whatever the value holds. A record without a value (a tombstone) is an empty line: the
 * parser rejects it ({@code invalid_json}), so it is dead-lettered, not lost. PyFlink's value-only
 * deserializer cannot see the record's metadata, hence this class.
 *
 * <p>Compiled against {@code flink-sql-connector-kafka}, whose Kafka classes are relocated under
 * {@code org.apache.flink.kafka.shaded}; {@code flink_app.keying.kafka_jar} builds it.
 */
public final class KafkaLines implements KafkaRecordDeserializationSchema<String> {

    private static final long serialVersionUID = 1L;
    /** Ends the origin; {@code RoutingKey.value} and {@code flink_app.keying.after_origin} split at it. */
    public static final char SEPARATOR = '\n';

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<String> out) {
        byte[] value = record.value();
        String landed = value == null ? "" : new String(value, StandardCharsets.ISO_8859_1);
        out.collect(origin(record.topic(), record.partition(), record.offset()) + SEPARATOR + landed);
    }

    /** Where a record came from, as dead letters name it: {@code kafka:<topic>/<partition>@<offset>}. */
    public static String origin(String topic, int partition, long offset) {
        return "kafka:" + topic + "/" + partition + "@" + offset;
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return Types.STRING;
    }
}

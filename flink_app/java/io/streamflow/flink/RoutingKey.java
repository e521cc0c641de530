package io.streamflow.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.types.Row;

/**
 * Pairs each raw line with its customer id, in the JVM, for {@code keyBy}.
 *
 * <p>The same rule as {@code streamflow.core.routing_key}: a line without a backslash in which
 * {@code "customer_id"} occurs once, followed by a string, is keyed by that string without a
 * JSON parser; any other line is parsed, and a line that is not a JSON object with a string
 * {@code customer_id} is keyed {@code ""} (the core's parser rejects it). Keying in the JVM
 * keeps the Python interpreter's lock out of the source task (see the flink_app README, Speed).
 */
public final class RoutingKey implements MapFunction<String, Row> {

    private static final long serialVersionUID = 1L;
    private static final String KEY = "\"customer_id\"";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Keys lines as the sources carry them; a line that begins with its origin and a newline (the
     * Kafka source's {@code KafkaLines}; {@code JsonLinesFormat} with an origin) is keyed by what follows it.
     */
    public RoutingKey() {}

    @Override
    public Row map(String line) {
        return Row.of(customerId(value(line)), line);
    }

    /**
     * The raw line after its origin: what follows the first newline ({@code KafkaLines} puts
     * {@code kafka:<topic>/<partition>@<offset>} and a newline before each record's value).
     */
    public static String value(String line) {
        return line.substring(line.indexOf('\n') + 1);
    }

    /**
     * The customer id the core's parser would read from {@code landed}, or {@code ""}.
     *
     * <p>Lines travel as ISO-8859-1 text, one character per byte ({@link JsonLinesFormat}); a line
     * with bytes beyond ASCII is decoded here as the parser decodes it, UTF-8 (a leading byte-order
     * mark dropped), so the key is the parser's {@code customer_id}.
     */
    public static String customerId(String landed) {
        String line = text(landed);
        if (line.indexOf('\\') < 0) {
            int first = line.indexOf(KEY);
            if (first >= 0 && line.indexOf(KEY, first + 1) < 0) {
                String member = stringMember(line, first + KEY.length());
                if (member != null) {
                    return member;
                }
            }
        }
        return parsedCustomerId(line);
    }

    /** A landed line's text: UTF-8 of its bytes when they go beyond ASCII (otherwise the same string). */
    static String text(String landed) {
        for (int index = 0; index < landed.length(); index++) {
            if (landed.charAt(index) > 0x7F) {
                String text = new String(landed.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
                return text.startsWith("\uFEFF") ? text.substring(1) : text;
            }
        }
        return landed;
    }

    /** The string after {@code ":"} at {@code at} (JSON whitespace around the colon), or null. */
    private static String stringMember(String line, int at) {
        int index = skipWhitespace(line, at);
        if (index >= line.length() || line.charAt(index) != ':') {
            return null;
        }
        index = skipWhitespace(line, index + 1);
        if (index >= line.length() || line.charAt(index) != '"') {
            return null;
        }
        int end = line.indexOf('"', index + 1);
        return end < 0 ? null : line.substring(index + 1, end);
    }

    private static int skipWhitespace(String line, int index) {
        while (index < line.length()) {
            char c = line.charAt(index);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                break;
            }
            index++;
        }
        return index;
    }

    private static String parsedCustomerId(String line) {
        try {
            JsonNode document = JSON.readTree(line);
            JsonNode customerId = document == null ? null : document.get("customer_id");
            boolean text = document != null && document.isObject() && customerId != null && customerId.isTextual();
            return text && isWellFormed(customerId.textValue()) ? customerId.textValue() : "";
        } catch (Exception error) {
            return "";
        }
    }

    /**
     * Whether {@code text} is valid UTF-16: a JSON escape can decode to a lone surrogate, which the
     * embedded Python cannot receive (the task would fail on it and restart forever). Such a line
     * is keyed {@code ""}; the keyed function then dead-letters it as {@code unroutable_event}.
     */
    private static boolean isWellFormed(String text) {
        return text.codePoints().noneMatch(point -> Character.getType(point) == Character.SURROGATE);
    }

    /** Each line of standard input's key, as a JSON string (non-ASCII escaped): the parity test reads them. */
    public static void main(String[] args) throws java.io.IOException {
        java.io.BufferedReader input = new java.io.BufferedReader(  // bytes as the stream carries them
                new java.io.InputStreamReader(System.in, StandardCharsets.ISO_8859_1));
        ObjectMapper escaping = new ObjectMapper();
        escaping.getFactory().configure(
                org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonWriteFeature.ESCAPE_NON_ASCII
                        .mappedFeature(),
                true);
        for (String line = input.readLine(); line != null; line = input.readLine()) {
            System.out.println(escaping.writeValueAsString(customerId(line)));
        }
        System.out.flush();
    }
}

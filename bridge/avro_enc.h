/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avro_enc.h - Avro binary encoding of values described with cJSON, and the Confluent wire
 * format around it, for the bridge's Avro output profiles.
 *
 * A writer schema (Avro schema JSON text) is parsed once into a struct pe_avro_schema; each
 * value is then encoded by walking the schema and the cJSON value side by side, through Apache
 * Avro C (libavro, Debian's libavro-dev), into a caller-owned, reused buffer. The mapping is
 * the plain JSON one: objects are records (every field named, no unknown keys) or maps, arrays
 * are arrays, numbers are int/long/float/double (int and long only when integral and in range;
 * a long may also be given as a decimal string, since cJSON numbers are doubles and lose
 * precision past 2^53), strings are string/bytes/enum/fixed, true/false are boolean, null is
 * null. A union takes the first branch that fits the JSON type, or the branch named by a
 * one-key object {"<type name>": value} (Avro's own JSON encoding of unions).
 *
 * The Confluent wire format, which Schema Registry aware consumers expect, is byte 0 = 0 (the
 * magic byte), the schema id as 4 bytes big-endian, then the Avro binary of the value.
 *
 * A value that does not match the schema is rejected with PE_EINVAL or PE_ERANGE and a reason
 * naming where in the value it failed ("$.lines[2].qty: ..."), fit for a dead letter's header.
 * A struct pe_avro_schema is not thread-safe: it keeps one scratch value it reuses.
 */
#ifndef POSEDGE_BRIDGE_AVRO_ENC_H
#define POSEDGE_BRIDGE_AVRO_ENC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the Confluent wire format's header: the magic byte 0 and the schema id. */
#define PE_AVRO_CONFLUENT_HDR 5

struct pe_avro_schema;

/* A growable output buffer the caller owns and reuses across encodes. Start it zeroed
 * ({0}); data is malloc'd and grown as needed; pe_avro_buf_free releases it. */
struct pe_avro_buf {
    uint8_t *data; /* the encoded bytes, len of them valid */
    size_t len;    /* bytes of the last encode */
    size_t cap;    /* bytes allocated at data */
};

/* Release a buffer's memory and zero it; NULL or a zeroed buffer is a no-op. */
void pe_avro_buf_free(struct pe_avro_buf *b);

/*
 * Parse a writer schema from JSON text (len bytes, need not be terminated) into *out.
 * Returns PE_OK; PE_EPARSE when libavro rejects the schema (its message is logged once, and
 * copied into why when why is not NULL); PE_EINVAL for NULL arguments; PE_ENOMEM.
 * The caller frees *out with pe_avro_schema_destroy.
 */
int pe_avro_schema_parse(const char *json, size_t len, struct pe_avro_schema **out, char *why,
                         size_t whylen);

/* Free a parsed schema; NULL is a no-op. */
void pe_avro_schema_destroy(struct pe_avro_schema *s);

/*
 * Encode value (borrowed) as Avro binary under schema s into out (out->len bytes from
 * out->data; earlier contents are replaced). Returns PE_OK; PE_EINVAL when the value does not
 * match the schema (wrong JSON type, missing or unknown record field, unknown enum symbol,
 * fixed of the wrong size, no union branch fits) and PE_ERANGE when a number does not fit
 * (not integral for int/long, outside int32/int64), both with the reason in why (may be NULL);
 * PE_EIO when libavro fails to write (logged); PE_ENOMEM. On error out->len is 0.
 */
int pe_avro_encode(struct pe_avro_schema *s, const cJSON *value, struct pe_avro_buf *out, char *why,
                   size_t whylen);

/* As pe_avro_encode, in the Confluent wire format: the 5-byte header with schema_id, then the
 * Avro binary. Same returns. */
int pe_avro_encode_confluent(struct pe_avro_schema *s, uint32_t schema_id, const cJSON *value,
                             struct pe_avro_buf *out, char *why, size_t whylen);

/* Write the Confluent header of schema_id into hdr[0..4]. */
void pe_avro_confluent_header(uint32_t schema_id, uint8_t hdr[PE_AVRO_CONFLUENT_HDR]);

/*
 * Split a Confluent-framed message: *schema_id from the header, *payload and *payload_len the Avro
 * binary after it (pointing into buf, which stays the caller's). Returns PE_OK; PE_ECORRUPT
 * when buf is shorter than the header or its magic byte is not 0.
 */
int pe_avro_confluent_split(const uint8_t *buf, size_t len, uint32_t *schema_id,
                            const uint8_t **payload, size_t *payload_len);

/*
 * Decode Avro binary (len bytes, exactly one value) under schema s into its JSON rendering by
 * libavro (unions as {"type": value}), for tools and tests. *json is malloc'd; the caller frees
 * it. Returns PE_OK; PE_ECORRUPT when the bytes do not decode or bytes are left over (libavro's
 * message logged); PE_ENOMEM. For tools and tests only, not for untrusted input in a daemon:
 * libavro 1.11.1 leaks the buffer of a string whose length runs past the end of the input.
 */
int pe_avro_decode_json(struct pe_avro_schema *s, const uint8_t *buf, size_t len, char **json);

#endif

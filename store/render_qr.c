/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render_qr.c - the payload of a receipt's QR code: one line of printable ASCII that ties the
 * paper to its journal record and carries a signature over everything it shows
 * (docs/protocol.md, "Receipt QR code").
 *
 * The invariant: a reader holding only the public key of key_id verifies a receipt from its
 * payload alone, and a payload with any byte changed (a total, a seq) does not verify. The
 * signature in the last field is over the payload's bytes before its last '|' (pe_render_qr
 * writes exactly those, the caller signs them with pe_signer_sign_receipt, and
 * pe_render_qr_seal appends the signature). The event's own journal signature is named by its
 * key id, counter and time, so an auditor finds the record the paper stands for. The payload
 * is made from the event alone (as render.c), after the commit, when that signature is known.
 */
#include <stdio.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/report.h"

#define QR_VERSION "posedge-qr/1"

/* The signature field: '|' and base64url of r || s without padding. */
#define SIG_FIELD (1 + (4 * PE_SIGNER_SIG_LEN + 2) / 3)
/* The signed part's bytes at most, so that its signature always fits. */
#define SIGNED_MAX (PE_RECEIPT_QR_MAX - 1 - SIG_FIELD)

struct out {
    char *p;    /* PE_RECEIPT_QR_MAX bytes */
    size_t len; /* used, without the NUL */
    bool bad;   /* a field did not fit or held a byte it may not */
};

/* Append one field, '|' first unless it is the first: printable ASCII without '|'. */
static void field(struct out *o, const char *s, size_t n)
{
    if (o->len > 0) {
        if (o->len + 1 > SIGNED_MAX) {
            o->bad = true;
            return;
        }
        o->p[o->len++] = '|';
    }
    if (o->len + n > SIGNED_MAX) {
        o->bad = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '|')
            o->bad = true;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void field_s(struct out *o, const char *s)
{
    field(o, s ? s : "", s ? strlen(s) : 0);
}

static void field_i(struct out *o, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    field(o, num, (size_t)n);
}

/* RFC 4648 section 5, without padding: 64 octets become 86 characters. */
static size_t base64url(const uint8_t *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = abc[v & 63];
    }
    return o;
}

/* The amount the receipt's total line shows: a sale's TOTAL, a return's REFUND, a void's
 * cancelled amount. false for the documents that carry none. */
static bool total_of(enum pe_event_type type, const cJSON *body, int64_t *total)
{
    /* Not a switch: a new event type has no total on its receipt unless it is named here, and
     * adding one touches no file but those docs/extending.md lists. */
    if (type == PE_EV_SALE || type == PE_EV_RETURN)
        return pe_json_get_int(cJSON_GetObjectItemCaseSensitive(body, "totals"), "total",
                               total) == PE_OK;
    if (type == PE_EV_VOID)
        return pe_json_get_int(body, "amount", total) == PE_OK;
    return false;
}

int pe_render_qr(const struct pe_render_hdr *h, const cJSON *body, const char *hash,
                 const struct pe_signature *sig, char out[PE_RECEIPT_QR_MAX], size_t *len)
{
    enum pe_event_type type;
    if (!out || !len)
        return PE_EINVAL;
    out[0] = '\0';
    *len = 0;
    if (!h || h->seq < 1 || !h->id || !h->type || !hash || !pe_is_sha256_hex(hash) ||
        pe_event_type_parse(h->type, &type) != PE_OK)
        return PE_EINVAL;
    struct out o = {.p = out, .len = 0};
    field_s(&o, QR_VERSION);
    field_s(&o, h->store);
    field_s(&o, h->terminal);
    field_i(&o, h->seq);
    field_s(&o, h->id);
    field_i(&o, h->ts_ms);
    field_s(&o, h->type);
    int64_t total = 0;
    const char *currency = NULL;
    if (total_of(type, body, &total) && pe_json_get_str(body, "currency", &currency) == PE_OK) {
        field_i(&o, total);
        field_s(&o, currency);
    } else {
        field(&o, "", 0);
        field(&o, "", 0);
    }
    field_s(&o, hash);
    if (sig) {
        field_s(&o, sig->key_id);
        field_i(&o, sig->counter);
        field_i(&o, sig->signed_ms);
    } else {
        for (int i = 0; i < 3; i++)
            field(&o, "", 0);
    }
    if (o.bad) {
        out[0] = '\0';
        return PE_EINVAL;
    }
    *len = o.len;
    return PE_OK;
}

int pe_render_qr_seal(char out[PE_RECEIPT_QR_MAX], size_t *len,
                      const uint8_t rs[PE_SIGNER_SIG_LEN])
{
    if (!out || !len || *len == 0 || *len > SIGNED_MAX || strlen(out) != *len)
        return PE_EINVAL;
    size_t n = *len;
    out[n++] = '|';
    if (rs)
        n += base64url(rs, PE_SIGNER_SIG_LEN, out + n);
    out[n] = '\0';
    *len = n;
    return PE_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_protocol.c - unit tests of the MQTT protocol's one owner (common/protocol.c): topics
 * formatted and parsed back for every channel, with and without a suffix; the wildcard and
 * ACL placeholders; refused ids, suffixes and topics; buffers one byte too small; the reserved
 * ids; the store's ACL texts (password, mutual TLS, enrolment), byte for byte (docs/protocol.md,
 * "Access control"); and the enrolment messages built and parsed, with their refusals.
 *
 * Expected topics are written out literally, not built with the code under test, so a change
 * of the wire format shows here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/err.h"
#include "posedge/protocol.h"
#include "tests/unit/harness.h"

/* Every channel, its name on the wire, as the protocol documents it. */
static const struct {
    enum pe_channel ch;
    const char *name;
} channels[] = {
    {PE_CH_EVENTS, "events"}, {PE_CH_ACK, "ack"},           {PE_CH_STATE, "state"},
    {PE_CH_CMD, "cmd"},       {PE_CH_CMD_RES, "cmd/res"},   {PE_CH_TELEMETRY, "telemetry"},
    {PE_CH_PROBE, "probe"},   {PE_CH_ENROL, "enrol"},       {PE_CH_ENROL_RES, "enrol/res"},
    {PE_CH_RENEW, "renew"},   {PE_CH_ALL, "#"},             {PE_CH_CATALOG, "catalog"},
    {PE_CH_CATALOG_GET, "catalog/get"}, {PE_CH_CATALOG_DATA, "catalog/data"},
};
#define NCHANNELS (sizeof channels / sizeof channels[0])

static void t_channel_names(void)
{
    CHECK_INT(NCHANNELS, PE_CH__COUNT);
    for (size_t i = 0; i < NCHANNELS; i++)
        CHECK_STR(pe_channel_name(channels[i].ch), channels[i].name);
    CHECK(pe_channel_name(PE_CH__COUNT) == NULL);
    CHECK(pe_channel_name((enum pe_channel)-1) == NULL);
}

/* Format, compare with the literal topic, parse back and compare every part. */
static void round_trip(const char *store, const char *terminal, enum pe_channel ch,
                       const char *suffix, const char *want)
{
    char t[PE_TOPIC_MAX], s[PE_ID_MAX], term[PE_ID_MAX];
    enum pe_channel got = PE_CH__COUNT;
    const char *sfx = NULL;
    CHECK_OK(pe_topic(t, sizeof t, store, terminal, ch, suffix));
    CHECK_STR(t, want);
    CHECK_OK(pe_topic_parse(t, s, term, &got, &sfx));
    CHECK_STR(s, store);
    CHECK_STR(term, terminal);
    CHECK_INT(got, ch);
    CHECK_STR(sfx, suffix ? suffix : "");
}

static void t_round_trip_every_channel(void)
{
    for (size_t i = 0; i < NCHANNELS; i++) {
        if (channels[i].ch == PE_CH_ALL)
            continue; /* a wildcard: never a topic that is published */
        char want[PE_TOPIC_MAX];
        snprintf(want, sizeof want, "posedge/v1/s001/t01/%s", channels[i].name);
        round_trip("s001", "t01", channels[i].ch, NULL, want);
        snprintf(want, sizeof want, "posedge/v1/S-9.x_Y/till_07/%s/a/b-c", channels[i].name);
        round_trip("S-9.x_Y", "till_07", channels[i].ch, "a/b-c", want);
    }
    round_trip("s001", "bridge", PE_CH_PROBE, "posedge-ctl-status-4711-00af",
               "posedge/v1/s001/bridge/probe/posedge-ctl-status-4711-00af");
    round_trip("s001", "_bridge", PE_CH_STATE, NULL, "posedge/v1/s001/_bridge/state");
    /* The longest ids: 32 characters each. */
    const char *id32 = "abcdefghijklmnopqrstuvwxyz012345";
    char want[PE_TOPIC_MAX];
    snprintf(want, sizeof want, "posedge/v1/%s/%s/cmd/res", id32, id32);
    round_trip(id32, id32, PE_CH_CMD_RES, NULL, want);
}

/* "cmd/res" is a channel of its own, not "cmd" with the suffix "res"; but "cmd/resx" is. */
static void t_parse_longest_channel(void)
{
    char s[PE_ID_MAX], t[PE_ID_MAX];
    enum pe_channel ch;
    const char *sfx;
    CHECK_OK(pe_topic_parse("posedge/v1/s/t/cmd/res", s, t, &ch, &sfx));
    CHECK_INT(ch, PE_CH_CMD_RES);
    CHECK_STR(sfx, "");
    CHECK_OK(pe_topic_parse("posedge/v1/s/t/cmd/resx", s, t, &ch, &sfx));
    CHECK_INT(ch, PE_CH_CMD);
    CHECK_STR(sfx, "resx");
    CHECK_OK(pe_topic_parse("posedge/v1/s/t/cmd/res/1", s, t, &ch, &sfx));
    CHECK_INT(ch, PE_CH_CMD_RES);
    CHECK_STR(sfx, "1");
    CHECK_OK(pe_topic_parse("posedge/v1/s/t/state", s, t, &ch, NULL)); /* suffix may be NULL */
    CHECK_INT(ch, PE_CH_STATE);
}

static void t_wildcards_and_acl_patterns(void)
{
    char t[PE_TOPIC_MAX];
    CHECK_OK(pe_topic(t, sizeof t, "s001", PE_TOPIC_ANY, PE_CH_STATE, NULL));
    CHECK_STR(t, "posedge/v1/s001/+/state");
    CHECK_OK(pe_topic(t, sizeof t, "s001", PE_TOPIC_ANY, PE_CH_CMD_RES, NULL));
    CHECK_STR(t, "posedge/v1/s001/+/cmd/res");
    CHECK_OK(pe_topic(t, sizeof t, "s001", PE_TOPIC_USER, PE_CH_EVENTS, NULL));
    CHECK_STR(t, "posedge/v1/s001/%u/events");
    CHECK_OK(pe_topic(t, sizeof t, "s001", PE_ID_BRIDGE, PE_CH_ALL, NULL));
    CHECK_STR(t, "posedge/v1/s001/bridge/#");
    CHECK_OK(pe_topic(t, sizeof t, PE_TOPIC_ANY, PE_TOPIC_ANY, PE_CH_ACK, NULL));
    CHECK_STR(t, "posedge/v1/+/+/ack");
    /* Nothing may follow '#'. */
    CHECK_INT(pe_topic(t, sizeof t, "s001", "t01", PE_CH_ALL, "x"), PE_EINVAL);
    CHECK_STR(t, "");
    /* A subscription pattern is not a topic: parsing one is refused. */
    char s[PE_ID_MAX], term[PE_ID_MAX];
    enum pe_channel ch;
    CHECK_INT(pe_topic_parse("posedge/v1/s001/+/state", s, term, &ch, NULL), PE_EINVAL);
    CHECK_INT(pe_topic_parse("posedge/v1/s001/%u/state", s, term, &ch, NULL), PE_EINVAL);
    CHECK_INT(pe_topic_parse("posedge/v1/s001/bridge/#", s, term, &ch, NULL), PE_EINVAL);
    CHECK_INT(pe_topic_parse("posedge/v1/+/t01/state", s, term, &ch, NULL), PE_EINVAL);
}

static void t_bad_ids_and_suffixes(void)
{
    static const char *const bad_ids[] = {
        "", "a/b", "a b", "t+", "t#", "%", "++", "%uu", "é", "abcdefghijklmnopqrstuvwxyz0123456",
    };
    char t[PE_TOPIC_MAX];
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        memcpy(t, "junk", 5);
        CHECK_INT(pe_topic(t, sizeof t, bad_ids[i], "t01", PE_CH_EVENTS, NULL), PE_EINVAL);
        CHECK_STR(t, "");
        memcpy(t, "junk", 5);
        CHECK_INT(pe_topic(t, sizeof t, "s001", bad_ids[i], PE_CH_EVENTS, NULL), PE_EINVAL);
        CHECK_STR(t, "");
    }
    static const char *const bad_suffixes[] = {"", "/x", "x/", "a//b", "a+b", "#", "a/#"};
    for (size_t i = 0; i < sizeof bad_suffixes / sizeof bad_suffixes[0]; i++)
        CHECK_INT(pe_topic(t, sizeof t, "s001", "t01", PE_CH_PROBE, bad_suffixes[i]), PE_EINVAL);
    char sfx[66];
    memset(sfx, 'x', 65);
    sfx[65] = '\0';
    CHECK_INT(pe_topic(t, sizeof t, "s001", "t01", PE_CH_PROBE, sfx), PE_EINVAL);
    sfx[64] = '\0'; /* 64 bytes: the longest suffix, and it fits PE_TOPIC_MAX with the longest
                     * ids and channel */
    const char *id32 = "abcdefghijklmnopqrstuvwxyz012345";
    CHECK_OK(pe_topic(t, sizeof t, id32, id32, PE_CH_TELEMETRY, sfx));
    CHECK_INT(strlen(t), strlen("posedge/v1///telemetry/") + 32 + 32 + 64);
    CHECK_INT(pe_topic(t, sizeof t, "s001", "t01", PE_CH__COUNT, NULL), PE_EINVAL);
    CHECK_INT(pe_topic(t, sizeof t, "s001", "t01", (enum pe_channel)-1, NULL), PE_EINVAL);
}

static void t_parse_refuses(void)
{
    static const char *const bad[] = {
        "",
        "posedge/v1",
        "posedge/v1/",
        "posedge/v2/s001/t01/events",
        "Posedge/v1/s001/t01/events",
        "x/posedge/v1/s001/t01/events",
        "posedge/v1/s001",
        "posedge/v1/s001/t01",
        "posedge/v1/s001/t01/",
        "posedge/v1/s001/t01/nope",
        "posedge/v1/s001/t01/eventsx",
        "posedge/v1/s001/t01/events/",
        "posedge/v1//t01/events",
        "posedge/v1/s001//events",
        "posedge/v1/s 01/t01/events",
        "posedge/v1/abcdefghijklmnopqrstuvwxyz0123456/t01/events",
        "posedge/v1/s001/abcdefghijklmnopqrstuvwxyz0123456/events",
    };
    char s[PE_ID_MAX], t[PE_ID_MAX];
    enum pe_channel ch;
    const char *sfx;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pe_topic_parse(bad[i], s, t, &ch, &sfx) != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "\"%s\" parsed", bad[i]);
}

/* A buffer one byte too small is refused (PE_ERANGE) and holds an empty string; one of the
 * exact size works. */
static void t_buffer_too_small(void)
{
    const char *want = "posedge/v1/s001/t01/cmd/res/abc";
    size_t need = strlen(want) + 1;
    char t[PE_TOPIC_MAX];
    memset(t, 'x', sizeof t);
    CHECK_INT(pe_topic(t, need - 1, "s001", "t01", PE_CH_CMD_RES, "abc"), PE_ERANGE);
    CHECK_STR(t, "");
    CHECK_INT(t[need - 1], 'x'); /* nothing past the buffer given */
    CHECK_OK(pe_topic(t, need, "s001", "t01", PE_CH_CMD_RES, "abc"));
    CHECK_STR(t, want);
    memset(t, 'x', sizeof t);
    CHECK_INT(pe_topic(t, 0, "s001", "t01", PE_CH_EVENTS, NULL), PE_ERANGE);
    CHECK_INT(t[0], 'x'); /* a zero-length buffer is not written at all */
    CHECK_INT(pe_topic(t, 1, "s001", "t01", PE_CH_EVENTS, NULL), PE_ERANGE);
    CHECK_STR(t, "");
}

static void t_reserved_ids(void)
{
    CHECK(pe_id_reserved("bridge"));
    CHECK(pe_id_reserved("_bridge"));
    CHECK(pe_id_reserved(PE_ID_BRIDGE));
    CHECK(pe_id_reserved(PE_ID_BRIDGE_OLD));
    CHECK(!pe_id_reserved("t01"));
    CHECK(!pe_id_reserved("Bridge"));
    CHECK(!pe_id_reserved("bridge2"));
    CHECK(!pe_id_reserved("_bridge_"));
    CHECK(!pe_id_reserved(""));
}

/* The ACL of docs/protocol.md ("Access control") for store S, bridge user U. */
static const char acl_s001[] =
    "# posedge ACL for store s001 (mosquitto acl_file)\n"
    "user bridge\n"
    "topic read posedge/v1/s001/+/events\n"
    "topic read posedge/v1/s001/+/state\n"
    "topic readwrite posedge/v1/s001/+/ack\n"
    "topic write posedge/v1/s001/+/cmd\n"
    "topic read posedge/v1/s001/+/cmd/res\n"
    "topic read posedge/v1/s001/+/catalog/get\n"
    "topic write posedge/v1/s001/+/catalog/data\n"
    "topic readwrite posedge/v1/s001/bridge/#\n"
    "\n"
    "# each till: only its own topics (%u is the MQTT username, the terminal id)\n"
    "pattern write posedge/v1/s001/%u/events\n"
    "pattern readwrite posedge/v1/s001/%u/state\n"
    "pattern read posedge/v1/s001/%u/ack\n"
    "pattern read posedge/v1/s001/%u/cmd\n"
    "pattern write posedge/v1/s001/%u/cmd/res\n"
    "pattern write posedge/v1/s001/%u/catalog/get\n"
    "pattern read posedge/v1/s001/%u/catalog/data\n"
    "pattern read posedge/v1/s001/bridge/catalog\n";

/* The mutual TLS ACL (use_identity_as_username: %u = "s001/t01"). */
static const char acl_tls_s001[] =
    "# posedge ACL for store s001, mutual TLS (mosquitto acl_file; use_identity_as_username:\n"
    "# the username is the client certificate's CN, \"<store>/<name>\")\n"
    "user s001/bridge\n"
    "topic read posedge/v1/s001/+/events\n"
    "topic read posedge/v1/s001/+/state\n"
    "topic readwrite posedge/v1/s001/+/ack\n"
    "topic write posedge/v1/s001/+/cmd\n"
    "topic read posedge/v1/s001/+/cmd/res\n"
    "topic read posedge/v1/s001/+/catalog/get\n"
    "topic write posedge/v1/s001/+/catalog/data\n"
    "topic read posedge/v1/s001/+/enrol\n"
    "topic read posedge/v1/s001/+/renew\n"
    "topic write posedge/v1/s001/+/enrol/res\n"
    "topic readwrite posedge/v1/s001/bridge/#\n"
    "\n"
    "# HQ's tool (posedge-ctl status and fleet)\n"
    "user s001/hq\n"
    "topic write posedge/v1/s001/+/cmd\n"
    "topic read posedge/v1/s001/+/state\n"
    "topic read posedge/v1/s001/+/cmd/res\n"
    "topic read posedge/v1/s001/+/ack\n"
    "topic read posedge/v1/s001/+/catalog\n"
    "topic readwrite posedge/v1/s001/bridge/probe/#\n"
    "\n"
    "# each till: only its own topics (%u = \"<store>/<terminal>\", store and terminal\n"
    "# both from its certificate)\n"
    "pattern write posedge/v1/%u/events\n"
    "pattern readwrite posedge/v1/%u/state\n"
    "pattern read posedge/v1/%u/ack\n"
    "pattern read posedge/v1/%u/cmd\n"
    "pattern write posedge/v1/%u/cmd/res\n"
    "pattern write posedge/v1/%u/catalog/get\n"
    "pattern read posedge/v1/%u/catalog/data\n"
    "pattern write posedge/v1/%u/renew\n"
    "pattern read posedge/v1/%u/enrol/res\n"
    "pattern read posedge/v1/s001/bridge/catalog\n";

/* The enrolment listener's ACL (anonymous, %c = the terminal id). */
static const char acl_enrol_s001[] =
    "# posedge enrolment ACL for store s001 (mosquitto acl_file of the enrolment\n"
    "# listener: anonymous, %c is the MQTT client id, the terminal id)\n"
    "pattern write posedge/v1/s001/%c/enrol\n"
    "pattern read posedge/v1/s001/%c/enrol/res\n";

/* What pe_protocol_acl_kind writes for kind, store and user, as a malloc'd string; *rc its
 * result. */
static char *acl_kind_text(enum pe_acl_kind kind, const char *store, const char *user, int *rc)
{
    const char *path = pe_test_path(0, "acl");
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    *rc = pe_protocol_acl_kind(f, kind, store, user);
    rewind(f);
    char *buf = calloc(1, 4096);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* What pe_protocol_acl writes for store and user, as a malloc'd string; *rc its result. */
static char *acl_text(const char *store, const char *user, int *rc)
{
    const char *path = pe_test_path(0, "acl");
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    *rc = pe_protocol_acl(f, store, user);
    rewind(f);
    char *buf = calloc(1, 4096);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void t_acl_text(void)
{
    int rc;
    char *text = acl_text("s001", "bridge", &rc);
    CHECK_OK(rc);
    CHECK_STR(text, acl_s001);
    free(text);
    /* Another store and bridge user: the user line changes, the bridge's own topics stay
     * under the reserved id "bridge". */
    text = acl_text("s-9", "hq.ops", &rc);
    CHECK_OK(rc);
    CHECK(strstr(text, "\nuser hq.ops\n") != NULL);
    CHECK(strstr(text, "\ntopic readwrite posedge/v1/s-9/bridge/#\n") != NULL);
    CHECK(strstr(text, "\npattern write posedge/v1/s-9/%u/cmd/res\n") != NULL);
    CHECK(strstr(text, "s001") == NULL);
    free(text);
}

static void t_acl_refusals(void)
{
    int rc;
    char *text = acl_text("s 1", "bridge", &rc);
    CHECK_INT(rc, PE_EINVAL);
    CHECK_STR(text, ""); /* nothing written */
    free(text);
    text = acl_text("s001", "bridge\nuser evil", &rc);
    CHECK_INT(rc, PE_EINVAL);
    CHECK_STR(text, "");
    free(text);
    text = acl_text("s001", "", &rc);
    CHECK_INT(rc, PE_EINVAL);
    free(text);
    /* A write that fails (a full disk) is the call's PE_EIO, not a later fflush's. */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK_INT(pe_protocol_acl(full, "s001", "bridge"), PE_EIO);
        fclose(full);
    }
}

static void t_acl_kinds(void)
{
    int rc;
    char *text = acl_kind_text(PE_ACL_TLS, "s001", NULL, &rc);
    CHECK_OK(rc);
    CHECK_STR(text, acl_tls_s001);
    free(text);
    text = acl_kind_text(PE_ACL_ENROL, "s001", NULL, &rc);
    CHECK_OK(rc);
    CHECK_STR(text, acl_enrol_s001);
    free(text);
    text = acl_kind_text(PE_ACL_PASSWORD, "s001", "bridge", &rc);
    CHECK_OK(rc);
    CHECK_STR(text, acl_s001);
    free(text);
    /* Another store: its name in every user and topic line, s001 nowhere. */
    text = acl_kind_text(PE_ACL_TLS, "s-9", NULL, &rc);
    CHECK_OK(rc);
    CHECK(strstr(text, "\nuser s-9/bridge\n") && strstr(text, "\nuser s-9/hq\n"));
    CHECK(strstr(text, "s001") == NULL);
    free(text);
    text = acl_kind_text(PE_ACL_TLS, "s/1", NULL, &rc);
    CHECK_INT(rc, PE_EINVAL);
    CHECK_STR(text, "");
    free(text);
    text = acl_kind_text((enum pe_acl_kind)7, "s001", NULL, &rc);
    CHECK_INT(rc, PE_EINVAL);
    free(text);
    CHECK_OK(pe_topic((char[PE_TOPIC_MAX]){0}, PE_TOPIC_MAX, "s001", PE_TOPIC_CLIENT, PE_CH_ENROL,
                      NULL));
}

static const char CSR[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBx\n"
                          "-----END CERTIFICATE REQUEST-----\n";
static const char CRT[] = "-----BEGIN CERTIFICATE-----\nMIIBy\n-----END CERTIFICATE-----\n";

static void t_enrol_request(void)
{
    char *text = NULL, why[200];
    cJSON *doc = NULL;
    struct pe_enrol_request r = {.req = "5b6f-1", .token = "ABCD-EFGH 2345", .csr = CSR}, p;
    CHECK_OK(pe_enrol_request_json(&r, &text));
    CHECK_STR(text, "{\"v\":1,\"req\":\"5b6f-1\",\"token\":\"ABCD-EFGH 2345\",\"csr\":"
                    "\"-----BEGIN CERTIFICATE REQUEST-----\\nMIIBx\\n"
                    "-----END CERTIFICATE REQUEST-----\\n\"}");
    CHECK_OK(pe_enrol_request_parse(text, strlen(text), false, &doc, &p, why, sizeof why));
    CHECK_STR(p.req, "5b6f-1");
    CHECK_STR(p.token, "ABCD-EFGH 2345");
    CHECK_STR(p.csr, CSR);
    /* The same message on .../renew: a renewal carries no token. */
    pe_enrol_request_free(doc);
    CHECK_INT(pe_enrol_request_parse(text, strlen(text), true, &doc, &p, why, sizeof why),
              PE_EINVAL);
    CHECK(strstr(why, "token") != NULL);
    pe_enrol_request_free(doc);
    free(text);
    r.token = NULL;
    CHECK_OK(pe_enrol_request_json(&r, &text));
    CHECK(strstr(text, "token") == NULL);
    CHECK_OK(pe_enrol_request_parse(text, strlen(text), true, &doc, &p, why, sizeof why));
    CHECK(p.token == NULL);
    pe_enrol_request_free(doc);
    /* ... and an enrolment needs one. */
    CHECK_INT(pe_enrol_request_parse(text, strlen(text), false, &doc, &p, why, sizeof why),
              PE_EINVAL);
    pe_enrol_request_free(doc);
    free(text);
    /* Refused on the way out: bad ids, tokens and PEM. */
    struct pe_enrol_request bad[] = {
        {.req = "", .token = "T", .csr = CSR},          {.req = "a b", .token = "T", .csr = CSR},
        {.req = "r", .token = "T\"x", .csr = CSR},       {.req = "r", .token = "", .csr = CSR},
        {.req = "r", .token = "T", .csr = CRT},         {.req = "r", .token = "T", .csr = "x"},
        {.req = "r", .token = "T", .csr = "-----BEGIN CERTIFICATE REQUEST-----\x01"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(pe_enrol_request_json(&bad[i], &text), PE_EINVAL);
    /* Refused on the way in, each naming the member. */
    static const struct {
        const char *json, *member;
    } in[] = {
        {"[]", "JSON object"},
        {"{\"v\":2,\"req\":\"r\",\"token\":\"T\",\"csr\":\"x\"}", "v"},
        {"{\"v\":1,\"token\":\"T\",\"csr\":\"x\"}", "req"},
        {"{\"v\":1,\"req\":\"r\",\"token\":7,\"csr\":\"x\"}", "token"},
        {"{\"v\":1,\"req\":\"r\",\"token\":\"T\",\"csr\":\"x\"}", "csr"},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK(pe_enrol_request_parse(in[i].json, strlen(in[i].json), false, &doc, &p, why,
                                     sizeof why) != PE_OK);
        if (!strstr(why, in[i].member))
            pe_test_fail(__FILE__, __LINE__, "%s: \"%s\" does not name %s", in[i].json, why,
                         in[i].member);
        pe_enrol_request_free(doc);
    }
    pe_enrol_request_free(NULL);
}

static void t_enrol_answer(void)
{
    char *text = NULL, why[200];
    cJSON *doc = NULL;
    struct pe_enrol_answer ok = {.req = "r1", .ok = true, .cert = CRT}, p;
    CHECK_OK(pe_enrol_answer_json(&ok, &text));
    CHECK_OK(pe_enrol_answer_parse(text, strlen(text), &doc, &p, why, sizeof why));
    CHECK(p.ok);
    CHECK_STR(p.req, "r1");
    CHECK_STR(p.cert, CRT);
    cJSON_Delete(doc);
    free(text);
    struct pe_enrol_answer no = {.req = "r2", .error = "token_used", .reason = "used already"};
    CHECK_OK(pe_enrol_answer_json(&no, &text));
    CHECK_OK(pe_enrol_answer_parse(text, strlen(text), &doc, &p, why, sizeof why));
    CHECK(!p.ok);
    CHECK_STR(p.error, "token_used");
    CHECK_STR(p.reason, "used already");
    CHECK(p.cert == NULL);
    cJSON_Delete(doc);
    free(text);
    struct pe_enrol_answer bad = {.req = "r3", .ok = true, .cert = CSR};
    CHECK_INT(pe_enrol_answer_json(&bad, &text), PE_EINVAL);
    static const char *const in[] = {
        "{\"v\":1,\"req\":\"r\",\"ok\":\"yes\"}",
        "{\"v\":1,\"req\":\"r\",\"ok\":true}",
        "{\"v\":1,\"req\":\"r\",\"ok\":false,\"error\":\"x\"}",
        "{\"v\":1,\"ok\":true,\"cert\":\"x\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK(pe_enrol_answer_parse(in[i], strlen(in[i]), &doc, &p, why, sizeof why) != PE_OK);
        cJSON_Delete(doc);
    }
}

static const struct pe_test tests[] = {
    {"channel_names", t_channel_names},
    {"round_trip_every_channel", t_round_trip_every_channel},
    {"parse_longest_channel", t_parse_longest_channel},
    {"wildcards_and_acl_patterns", t_wildcards_and_acl_patterns},
    {"bad_ids_and_suffixes", t_bad_ids_and_suffixes},
    {"parse_refuses", t_parse_refuses},
    {"buffer_too_small", t_buffer_too_small},
    {"reserved_ids", t_reserved_ids},
    {"acl_text", t_acl_text},
    {"acl_refusals", t_acl_refusals},
    {"acl_kinds", t_acl_kinds},
    {"enrol_request", t_enrol_request},
    {"enrol_answer", t_enrol_answer},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("protocol", tests, argc, argv);
}

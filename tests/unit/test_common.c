/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common.c - unit tests of the small shared modules: errors (common/err.c), time
 * (common/clock.c), logging (common/log.c), SHA-256 / UUIDs (common/crypto.c) and secret files
 * (common/secret.c).
 *
 * Known answers come from outside the code under test: the SHA-256 vectors of FIPS 180-2, and
 * epoch values of dates that can be checked by hand. The logger is tested by pointing stderr
 * at a file with dup2 and reading back exactly what one call wrote.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/secret.h"
#include "tests/unit/harness.h"

/* errors */

static void t_err_names_and_messages(void)
{
    int n = 0;
#define ERR_CHECK(name, value, msg)                                                                \
    CHECK_INT(PE_##name, value);                                                                   \
    CHECK_STR(pe_errname(value), #name);                                                           \
    CHECK_STR(pe_strerror(value), msg);                                                            \
    n++;
    PE_ERRORS(ERR_CHECK)
#undef ERR_CHECK
    CHECK_INT(n, 20);
    CHECK_STR(pe_errname(PE_EFULL), "EFULL");
    CHECK_STR(pe_strerror(PE_OK), "success");
    CHECK_STR(pe_strerror(PE_ENOMEM), "out of memory");
}

static void t_err_unknown_codes(void)
{
    CHECK_STR(pe_strerror(1), "unknown error");
    CHECK_STR(pe_strerror(-1000), "unknown error");
    CHECK_STR(pe_errname(42), "EUNKNOWN");
    CHECK_STR(pe_errname(-99), "EUNKNOWN");
}

static void t_err_codes_distinct(void)
{
    /* Every code is negative except OK, and no two share a value. */
    static const int codes[] = {
#define ERR_CODE(name, value, msg) value,
        PE_ERRORS(ERR_CODE)
#undef ERR_CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] <= 0);
        CHECK_INT(codes[i] == 0, i == 0);
        for (size_t j = i + 1; j < n; j++)
            CHECK(codes[i] != codes[j]);
    }
}

/* time */

static void expect_time(int64_t ms, const char *text)
{
    char out[PE_TIME_STRLEN];
    int64_t back = -42;
    pe_time_format(ms, out);
    CHECK_STR(out, text);
    CHECK_OK(pe_time_parse(text, &back));
    CHECK_INT(back, ms);
}

static void t_time_known_values(void)
{
    expect_time(0, "1970-01-01T00:00:00.000Z");
    expect_time(1, "1970-01-01T00:00:00.001Z");
    expect_time(86400000, "1970-01-02T00:00:00.000Z");
    expect_time(951782400000, "2000-02-29T00:00:00.000Z");
    expect_time(1709210096789, "2024-02-29T12:34:56.789Z");
    expect_time(1795256102123, "2026-11-21T10:15:02.123Z");
    expect_time(4102444800000, "2100-01-01T00:00:00.000Z");
    expect_time(2147483647000, "2038-01-19T03:14:07.000Z");
    expect_time(2147483648000, "2038-01-19T03:14:08.000Z");
}

static void t_time_year_boundaries(void)
{
    expect_time(946684799999, "1999-12-31T23:59:59.999Z");
    expect_time(946684800000, "2000-01-01T00:00:00.000Z");
    expect_time(1735689599999, "2024-12-31T23:59:59.999Z");
    expect_time(1735689600000, "2025-01-01T00:00:00.000Z");
    /* 2024 is a leap year: 366 days from its first day to the next year's. */
    int64_t a, b;
    CHECK_OK(pe_time_parse("2024-01-01T00:00:00.000Z", &a));
    CHECK_OK(pe_time_parse("2025-01-01T00:00:00.000Z", &b));
    CHECK_INT(b - a, 366LL * 86400000);
    CHECK_OK(pe_time_parse("2023-01-01T00:00:00.000Z", &a));
    CHECK_OK(pe_time_parse("2024-01-01T00:00:00.000Z", &b));
    CHECK_INT(b - a, 365LL * 86400000);
    /* The day after 28 February. */
    CHECK_OK(pe_time_parse("2023-02-28T00:00:00.000Z", &a));
    CHECK_OK(pe_time_parse("2023-03-01T00:00:00.000Z", &b));
    CHECK_INT(b - a, 86400000);
    CHECK_OK(pe_time_parse("2024-02-28T00:00:00.000Z", &a));
    CHECK_OK(pe_time_parse("2024-03-01T00:00:00.000Z", &b));
    CHECK_INT(b - a, 2 * 86400000);
}

static void t_time_leap_days(void)
{
    int64_t ms;
    CHECK_OK(pe_time_parse("2000-02-29T00:00:00.000Z", &ms)); /* divisible by 400 */
    CHECK_OK(pe_time_parse("2024-02-29T23:59:59.999Z", &ms));
    CHECK_OK(pe_time_parse("1600-02-29T00:00:00.000Z", &ms));
    CHECK_INT(pe_time_parse("1900-02-29T00:00:00.000Z", &ms), PE_EPARSE); /* by 100, not 400 */
    CHECK_INT(pe_time_parse("2100-02-29T00:00:00.000Z", &ms), PE_EPARSE);
    CHECK_INT(pe_time_parse("2023-02-29T00:00:00.000Z", &ms), PE_EPARSE);
    CHECK_INT(pe_time_parse("2024-02-30T00:00:00.000Z", &ms), PE_EPARSE);
}

static void t_time_before_1970(void)
{
    /* Times before the epoch are handled, not refused: negative milliseconds. */
    expect_time(-1, "1969-12-31T23:59:59.999Z");
    expect_time(-86400000, "1969-12-31T00:00:00.000Z");
    expect_time(-2208988800000, "1900-01-01T00:00:00.000Z");
    expect_time(-62167219200000, "0000-01-01T00:00:00.000Z");
}

static void t_time_round_trip(void)
{
    /* From year 0 to 9999 in strides that visit every millisecond digit, hour and month. */
    const int64_t lo = -62167219200000, hi = 253402300799999;
    char out[PE_TIME_STRLEN];
    int64_t back;
    for (int64_t ms = lo; ms <= hi; ms += 9876543210987 / 7919) {
        pe_time_format(ms, out);
        CHECK_OK(pe_time_parse(out, &back));
        CHECK_INT(back, ms);
    }
    expect_time(hi, "9999-12-31T23:59:59.999Z");
    /* Now formats as something this decade that parses back. */
    int64_t now = pe_time_now_ms();
    pe_time_format(now, out);
    CHECK_INT(strlen(out), PE_TIME_STRLEN - 1);
    CHECK_OK(pe_time_parse(out, &back));
    CHECK_INT(back, now);
    CHECK(now > 1700000000000);
}

static void t_time_malformed(void)
{
    static const char *const bad[] = {
        "",
        "2024-02-29",
        "2024-02-29T12:34:56Z",
        "2024-02-29T12:34:56.789",
        "2024-02-29T12:34:56.789z",
        "2024-02-29 12:34:56.789Z",
        "2024-02-29T12:34:56.789Z ",
        " 2024-02-29T12:34:56.789Z",
        "2024-02-29T12:34:56.7891Z",
        "2024/02/29T12:34:56.789Z",
        "2024-13-01T00:00:00.000Z",
        "2024-00-01T00:00:00.000Z",
        "2024-01-00T00:00:00.000Z",
        "2024-01-32T00:00:00.000Z",
        "2024-04-31T00:00:00.000Z",
        "2024-01-01T24:00:00.000Z",
        "2024-01-01T00:60:00.000Z",
        "2024-01-01T00:00:60.000Z", /* no leap seconds */
        "2024-01-01T0a:00:00.000Z",
        "-024-01-01T00:00:00.000Z",
        "+2024-01-01T00:00:00.00Z",
        "2024-01-01T00:00:00.-00Z",
        "2024-01-01T00:00:00,000Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 7;
        if (pe_time_parse(bad[i], &ms) != PE_EPARSE)
            pe_test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
        CHECK_INT(ms, 7);
    }
    int64_t ms;
    CHECK_INT(pe_time_parse(NULL, &ms), PE_EPARSE);
}

static void t_monotonic(void)
{
    int64_t a = pe_mono_ms(), ua = pe_mono_us();
    for (int i = 0; i < 1000; i++) {
        int64_t b = pe_mono_ms(), ub = pe_mono_us();
        CHECK(b >= a);
        CHECK(ub >= ua);
        a = b;
        ua = ub;
    }
    CHECK(ua / 1000 >= a - 1);
}

/* SHA-256 */

static void hex_of(const void *a, size_t alen, const void *b, size_t blen, char *out)
{
    uint8_t d[PE_SHA256_LEN];
    pe_sha256_2(a, alen, b, blen, d);
    pe_hex(d, sizeof d, out);
}

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

static void t_sha256_known_answers(void)
{
    char hex[PE_SHA256_HEXLEN];
    hex_of("", 0, NULL, 0, hex);
    CHECK_STR(hex, SHA_EMPTY);
    hex_of("", 0, "", 0, hex);
    CHECK_STR(hex, SHA_EMPTY);
    hex_of("abc", 3, NULL, 0, hex);
    CHECK_STR(hex, SHA_ABC);
    hex_of(MSG_448, strlen(MSG_448), NULL, 0, hex);
    CHECK_STR(hex, SHA_448);
}

static void t_sha256_split_input(void)
{
    /* SHA-256(a || b) does not depend on where the input is split. */
    char hex[PE_SHA256_HEXLEN];
    hex_of("a", 1, "bc", 2, hex);
    CHECK_STR(hex, SHA_ABC);
    hex_of("ab", 2, "c", 1, hex);
    CHECK_STR(hex, SHA_ABC);
    hex_of("", 0, "abc", 3, hex);
    CHECK_STR(hex, SHA_ABC);
    hex_of("abc", 3, "", 0, hex);
    CHECK_STR(hex, SHA_ABC);
    size_t n = strlen(MSG_448);
    for (size_t cut = 0; cut <= n; cut++) {
        hex_of(MSG_448, cut, MSG_448 + cut, n - cut, hex);
        CHECK_STR(hex, SHA_448);
    }
}

static void t_sha256_million_a(void)
{
    /* FIPS 180-2's third vector: one million 'a', split across the two inputs. */
    size_t n = 1000000;
    char *a = malloc(n);
    char hex[PE_SHA256_HEXLEN];
    CHECK(a != NULL);
    memset(a, 'a', n);
    hex_of(a, 333333, a + 333333, n - 333333, hex);
    free(a);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void t_hex(void)
{
    const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof in + 1];
    memset(out, 'x', sizeof out);
    pe_hex(in, sizeof in, out);
    CHECK_STR(out, "00017f80abff");
    pe_hex(in, 0, out);
    CHECK_STR(out, "");
}

static void t_is_sha256_hex(void)
{
    CHECK(pe_is_sha256_hex(SHA_EMPTY));
    CHECK(pe_is_sha256_hex(SHA_ABC));
    CHECK(!pe_is_sha256_hex(NULL));
    CHECK(!pe_is_sha256_hex(""));
    CHECK(!pe_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    CHECK(!pe_is_sha256_hex(SHA_EMPTY "0"));
    CHECK(!pe_is_sha256_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    CHECK(!pe_is_sha256_hex("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(!pe_is_sha256_hex(" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
}

/* UUIDs */

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, PE_UUID_STRLEN);
}

static void t_uuid_shape_and_uniqueness(void)
{
    enum { N = 10000 };
    struct pe_rng *rng = NULL;
    char(*ids)[PE_UUID_STRLEN] = malloc(N * sizeof *ids);
    CHECK(ids != NULL);
    CHECK_OK(pe_rng_create("test/uuid", &rng));
    for (int i = 0; i < N; i++) {
        CHECK_OK(pe_rng_uuid(rng, ids[i]));
        CHECK(pe_is_uuid(ids[i]));
        CHECK_INT(strlen(ids[i]), 36);
        CHECK_INT(ids[i][14], '4');                /* version 4 */
        CHECK(strchr("89ab", ids[i][19]) != NULL); /* RFC 4122 variant */
    }
    qsort(ids, N, sizeof *ids, cmp_uuid);
    for (int i = 1; i < N; i++)
        CHECK(strcmp(ids[i - 1], ids[i]) != 0);
    free(ids);
    pe_rng_destroy(rng);
    pe_rng_destroy(NULL);
}

static void t_uuid_bits_vary(void)
{
    /* Over many draws every random hex position takes more than one value. */
    struct pe_rng *rng;
    char first[PE_UUID_STRLEN], id[PE_UUID_STRLEN];
    int varied[36] = {0};
    CHECK_OK(pe_rng_create(NULL, &rng));
    CHECK_OK(pe_rng_uuid(rng, first));
    for (int i = 0; i < 200; i++) {
        CHECK_OK(pe_rng_uuid(rng, id));
        for (int j = 0; j < 36; j++)
            varied[j] |= id[j] != first[j];
    }
    for (int j = 0; j < 36; j++) {
        int fixed = j == 8 || j == 13 || j == 18 || j == 23 || j == 14;
        CHECK_INT(varied[j], !fixed);
    }
    pe_rng_destroy(rng);
}

static void t_rng_bytes_large(void)
{
    /* More than CTR-DRBG's largest single request. */
    struct pe_rng *rng;
    size_t n = 5000;
    uint8_t *buf = calloc(1, n);
    int counts[256] = {0};
    CHECK(buf != NULL);
    CHECK_OK(pe_rng_create("test/bytes", &rng));
    CHECK_OK(pe_rng_bytes(rng, buf, n));
    for (size_t i = 0; i < n; i++)
        counts[buf[i]]++;
    /* The tail was filled too, and no byte value dominates. */
    int tail_nonzero = 0;
    for (size_t i = n - 64; i < n; i++)
        tail_nonzero += buf[i] != 0;
    CHECK(tail_nonzero > 32);
    for (int v = 0; v < 256; v++)
        CHECK(counts[v] < 100);
    free(buf);
    pe_rng_destroy(rng);
}

static void t_is_uuid(void)
{
    CHECK(pe_is_uuid("123e4567-e89b-42d3-a456-426614174000"));
    CHECK(!pe_is_uuid(NULL));
    CHECK(!pe_is_uuid(""));
    CHECK(!pe_is_uuid("123E4567-E89B-42D3-A456-426614174000"));
    CHECK(!pe_is_uuid("123e4567e89b42d3a456426614174000"));
    CHECK(!pe_is_uuid("123e4567-e89b-42d3-a456-42661417400"));
    CHECK(!pe_is_uuid("123e4567-e89b-42d3-a456-4266141740000"));
    CHECK(!pe_is_uuid("123e456-7e89b-42d3-a456-426614174000"));
    CHECK(!pe_is_uuid("{123e4567-e89b-42d3-a456-426614174000}"));
    CHECK(!pe_is_uuid("123e4567-e89b-42d3-a456-42661417400g"));
}

/* secret files */

/* Write text (n bytes) to a file of the test directory with the given mode; returns its path. */
static const char *secret_file(int slot, const char *name, const char *text, size_t n,
                               mode_t mode)
{
    const char *path = pe_test_path(slot, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_INT(fwrite(text, 1, n, f), n);
    CHECK_INT(fclose(f), 0);
    CHECK_INT(chmod(path, mode), 0);
    return path;
}

/* True when n bytes at p are all zero. */
static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void t_secret_first_line(void)
{
    static const char text[] = "hunter2\nsecond line\n";
    const char *path = secret_file(0, "pw", text, sizeof text - 1, 0600);
    char out[64], err[256] = "";
    memset(out, 'X', sizeof out);
    CHECK_OK(pe_secret_read("mqtt.password_file", path, PE_SECRET_PRIVATE, out, sizeof out, err,
                            sizeof err));
    CHECK_STR(out, "hunter2");
    /* What was read past the first line is wiped; the rest of the buffer is untouched. */
    CHECK(all_zero(out + 7, sizeof text - 1 - 7));
    CHECK(memchr(out, 's', sizeof out) == NULL);
    CHECK_INT(out[sizeof text - 1], 'X');
}

static void t_secret_line_endings(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"pw\r\nnext\r\n", "pw"}, {"pw\r", "pw"}, {"pw", "pw"},   {"\npw\n", ""},
        {"p w\t\n", "p w\t"},     {"", ""},       {"\r\n", ""},  {"a\0b\n", "a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].text);
        if (strcmp(cases[i].want, "a") == 0)
            n = 4; /* "a\0b\n": a NUL ends the line too */
        const char *path = secret_file(0, "pw", cases[i].text, n, 0640);
        char out[16], err[256];
        memset(out, 'X', sizeof out);
        CHECK_OK(pe_secret_read("--password-file", path, PE_SECRET_PRIVATE, out, sizeof out, err,
                                sizeof err));
        CHECK_STR(out, cases[i].want);
    }
}

static void t_secret_too_long(void)
{
    char out[8], err[256];
    /* 7 bytes fit an 8-byte buffer, with or without a line ending after them. */
    const char *path = secret_file(0, "seven", "1234567", 7, 0600);
    CHECK_OK(pe_secret_read("s", path, 0, out, sizeof out, err, sizeof err));
    CHECK_STR(out, "1234567");
    path = secret_file(0, "seven", "1234567\nmore", 12, 0600);
    CHECK_OK(pe_secret_read("s", path, 0, out, sizeof out, err, sizeof err));
    CHECK_STR(out, "1234567");
    /* 8 do not: refused, out wiped, the message names the setting and the file, not the
     * secret. */
    path = secret_file(1, "eight", "s3cr3t!!\n", 9, 0600);
    memset(out, 'X', sizeof out);
    CHECK_INT(pe_secret_read("mqtt.password_file", path, 0, out, sizeof out, err, sizeof err),
              PE_EINVAL);
    CHECK(all_zero(out, sizeof out));
    char want[512];
    snprintf(want, sizeof want, "mqtt.password_file %s: the first line is longer than 7 bytes",
             path);
    CHECK_STR(err, want);
    CHECK(strstr(err, "s3cr3t") == NULL);
    CHECK_INT(pe_secret_read("s", path, 0, NULL, 8, err, sizeof err), PE_EINVAL);
    CHECK_INT(pe_secret_read("s", path, 0, out, 0, err, sizeof err), PE_EINVAL);
}

static void t_secret_unreadable(void)
{
    char out[16], err[512];
    const char *path = pe_test_path(0, "missing");
    memset(out, 'X', sizeof out);
    CHECK_INT(pe_secret_read("mqtt.password_file", path, PE_SECRET_PRIVATE, out, sizeof out, err,
                             sizeof err),
              PE_EIO);
    CHECK(all_zero(out, sizeof out));
    char want[512];
    snprintf(want, sizeof want, "mqtt.password_file %s: cannot read: No such file or directory",
             path);
    CHECK_STR(err, want);
    /* A directory opens but cannot be read. */
    CHECK_INT(pe_secret_read("s", pe_test_tmpdir(), 0, out, sizeof out, err, sizeof err), PE_EIO);
    CHECK(strstr(err, "cannot read") != NULL);
    CHECK_INT(pe_secret_check_mode("s", path, err, sizeof err), PE_EIO);
}

static void t_secret_mode(void)
{
    static const struct {
        mode_t mode;
        int rc;
        const char *why;
    } cases[] = {
        {0600, PE_OK, NULL},
        {0400, PE_OK, NULL},
        {0640, PE_OK, NULL},
        {0644, PE_EINVAL, "mode 0644 lets others read it (at most 0640: chmod 600 or 640)"},
        {0604, PE_EINVAL, "mode 0604 lets others read it"},
        {0601, PE_EINVAL, "mode 0601 lets others read it"},
        {0660, PE_EINVAL, "mode 0660 lets its group write it"},
        {0666, PE_EINVAL, "mode 0666 lets others read it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = secret_file(0, "pw", "secret\n", 7, cases[i].mode);
        char out[16], err[512] = "";
        memset(out, 'X', sizeof out);
        int rc =
            pe_secret_read("bridge.key", path, PE_SECRET_PRIVATE, out, sizeof out, err, sizeof err);
        CHECK_INT(rc, cases[i].rc);
        CHECK_INT(pe_secret_check_mode("bridge.key", path, err, sizeof err), cases[i].rc);
        if (cases[i].rc == PE_OK) {
            CHECK_STR(out, "secret");
            continue;
        }
        CHECK(all_zero(out, sizeof out));
        CHECK(strncmp(err, "bridge.key ", 11) == 0);
        CHECK(strstr(err, path) != NULL);
        if (!strstr(err, cases[i].why))
            pe_test_fail(__FILE__, __LINE__, "mode %04o: \"%s\" does not say \"%s\"",
                         (unsigned)cases[i].mode, err, cases[i].why);
        /* Without PE_SECRET_PRIVATE the mode is not looked at. */
        CHECK_OK(pe_secret_read("bridge.key", path, 0, out, sizeof out, err, sizeof err));
        CHECK_STR(out, "secret");
    }
}

static void t_secret_wipe(void)
{
    char buf[32];
    memset(buf, 'k', sizeof buf);
    pe_secret_wipe(buf, 16);
    CHECK(all_zero(buf, 16));
    CHECK_INT(buf[16], 'k');
    pe_secret_wipe(buf, 0);
    CHECK_INT(buf[16], 'k');
    pe_secret_wipe(NULL, 8); /* a no-op */
}

/* logging */

static void t_log_level_parse(void)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    enum pe_log_level lv;
    for (int i = 0; i < 5; i++) {
        lv = (enum pe_log_level) - 1;
        CHECK_OK(pe_log_level_parse(names[i], &lv));
        CHECK_INT(lv, i);
    }
    lv = PE_LOG_WARN;
    CHECK_INT(pe_log_level_parse("INFO", &lv), PE_EINVAL);
    CHECK_INT(pe_log_level_parse("warning", &lv), PE_EINVAL);
    CHECK_INT(pe_log_level_parse("", &lv), PE_EINVAL);
    CHECK_INT(pe_log_level_parse("info ", &lv), PE_EINVAL);
    CHECK_INT(pe_log_level_parse(NULL, &lv), PE_EINVAL);
    CHECK_INT(lv, PE_LOG_WARN);
}

/* Holds the real stderr while a test points fd 2 at a file. */
static int saved_stderr = -1;

static void capture_begin(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    saved_stderr = dup(STDERR_FILENO);
    CHECK(saved_stderr >= 0);
    CHECK_INT(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

/* Restore stderr (so a failing CHECK can be read) and return what was written; caller frees. */
static char *capture_end(const char *path, size_t *len)
{
    CHECK_INT(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
    close(saved_stderr);
    saved_stderr = -1;
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    char *buf = malloc(8192);
    CHECK(buf != NULL);
    *len = fread(buf, 1, 8191, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *s, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

static void t_log_one_line(void)
{
    const char *path = pe_test_path(0, "log.txt");
    size_t len;
    pe_log_init("agent", PE_LOG_INFO);
    int64_t before = pe_time_now_ms();
    capture_begin(path);
    pe_info("sale.commit", "seq=%d total=%d", 12, 1234);
    char *out = capture_end(path, &len);
    int64_t after = pe_time_now_ms();

    CHECK_INT(count_lines(out, len), 1);
    CHECK(len > 24 && out[len - 1] == '\n');
    char ts[PE_TIME_STRLEN];
    memcpy(ts, out, 24);
    ts[24] = '\0';
    int64_t ms;
    CHECK_OK(pe_time_parse(ts, &ms));
    CHECK(ms >= before && ms <= after);
    CHECK_STR(out + 24, " level=info comp=agent event=sale.commit seq=12 total=1234\n");
    free(out);
}

static void t_log_levels_and_no_fields(void)
{
    const char *path = pe_test_path(0, "log.txt");
    size_t len;
    pe_log_init("bridge", PE_LOG_WARN);
    capture_begin(path);
    pe_debug("dropped.debug", NULL);
    pe_info("dropped.info", "x=%d", 1);
    pe_warn("kept.warn", NULL);
    pe_error("kept.error", "reason=\"%s\"", "disk full");
    pe_log(PE_LOG_OFF, "never", NULL);
    pe_log_set_level(PE_LOG_OFF);
    pe_error("dropped.off", NULL);
    pe_log_set_level(PE_LOG_DEBUG);
    pe_debug("kept.debug", "n=%d", 3);
    char *out = capture_end(path, &len);

    CHECK_INT(count_lines(out, len), 3);
    CHECK(strstr(out, "dropped") == NULL);
    CHECK(strstr(out, "never") == NULL);
    char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    /* No trailing blank after an event without fields. */
    CHECK(strncmp(l1 + 24, " level=warn comp=bridge event=kept.warn\n", 40) == 0);
    CHECK(strncmp(l2 + 24, " level=error comp=bridge event=kept.error reason=\"disk full\"\n",
                  61) == 0);
    CHECK_STR(l3 + 24, " level=debug comp=bridge event=kept.debug n=3\n");
    free(out);
}

static void t_log_long_line_stays_one_line(void)
{
    const char *path = pe_test_path(0, "log.txt");
    size_t len;
    char big[5000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pe_log_init("agent", PE_LOG_INFO);
    capture_begin(path);
    pe_info("big", "v=%s", big);
    char *out = capture_end(path, &len);
    CHECK_INT(count_lines(out, len), 1);
    CHECK(out[len - 1] == '\n');
    CHECK(len <= 2048);
    CHECK(strstr(out, " event=big v=vvv") != NULL);
    free(out);
}

static const struct pe_test tests[] = {
    {"err_names_and_messages", t_err_names_and_messages},
    {"err_unknown_codes", t_err_unknown_codes},
    {"err_codes_distinct", t_err_codes_distinct},
    {"time_known_values", t_time_known_values},
    {"time_year_boundaries", t_time_year_boundaries},
    {"time_leap_days", t_time_leap_days},
    {"time_before_1970", t_time_before_1970},
    {"time_round_trip", t_time_round_trip},
    {"time_malformed", t_time_malformed},
    {"monotonic", t_monotonic},
    {"sha256_known_answers", t_sha256_known_answers},
    {"sha256_split_input", t_sha256_split_input},
    {"sha256_million_a", t_sha256_million_a},
    {"hex", t_hex},
    {"is_sha256_hex", t_is_sha256_hex},
    {"uuid_shape_and_uniqueness", t_uuid_shape_and_uniqueness},
    {"uuid_bits_vary", t_uuid_bits_vary},
    {"rng_bytes_large", t_rng_bytes_large},
    {"is_uuid", t_is_uuid},
    {"log_level_parse", t_log_level_parse},
    {"log_one_line", t_log_one_line},
    {"log_levels_and_no_fields", t_log_levels_and_no_fields},
    {"log_long_line_stays_one_line", t_log_long_line_stays_one_line},
    {"secret_first_line", t_secret_first_line},
    {"secret_line_endings", t_secret_line_endings},
    {"secret_too_long", t_secret_too_long},
    {"secret_unreadable", t_secret_unreadable},
    {"secret_mode", t_secret_mode},
    {"secret_wipe", t_secret_wipe},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("common", tests, argc, argv);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_signer_pkcs11.c - unit tests of the pkcs11 signer (common/signer_pkcs11.c) against a real
 * token: SoftHSM2 from Debian (softhsm2, scripts/deps.sh), its module loaded as the till loads
 * any token's.
 *
 * Each test makes its own token in its temporary directory (a SOFTHSM2_CONF of its own, then
 * `softhsm2-util --init-token --free`), so no test sees another's keys. What must hold: the key
 * is made on the token at the first open (sensitive, never extractable, made there) and found
 * again, with the same key id, at the next; its signatures verify with the public key alone and
 * carry the counter the journal hands back; every refusal names the setting or the file (the PIN
 * file, never the PIN: the PIN appears neither in a message nor in the log); a token removed
 * (its directory moved away) makes sign answer PE_EIO without consuming the counter, recover
 * answers PE_EIO until it is back and then signing resumes with the same key and counter; a
 * token put back with another key under the same label is refused. In test builds, every CKR_
 * code that says the token or its session is gone, injected in place of the token's answer,
 * does the same and is logged once; a code that says only the signing failed is PE_ESYS and
 * leaves the signer up.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/signer.h"
#include "tests/unit/harness.h"

#define STORE "s001"
#define TERMINAL "t01"
#define T0 1795256102000LL
#define TOKEN "posedge-test"
#define KEY "fiscal"
#define PIN "730519"     /* the user PIN: must never appear in a message or the log */
#define SO_PIN "918273"

#define MODULE_DEFAULT "/usr/lib/softhsm/libsofthsm2.so"

/* ---- the token ---- */

/* The path of name in the test's directory; up to 16 stay valid for the whole test. */
static const char *tpath(const char *name)
{
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, sizeof paths[0], "%s/%s", pe_test_tmpdir(), name);
    return p;
}

/* The SoftHSM2 module: $PE_TEST_SOFTHSM2 or Debian's. */
static const char *module(void)
{
    const char *m = getenv("PE_TEST_SOFTHSM2");
    m = m && m[0] ? m : MODULE_DEFAULT;
    if (access(m, R_OK) != 0)
        pe_test_fail(__FILE__, __LINE__, "SoftHSM2's module %s is missing: install softhsm2 "
                     "(scripts/deps.sh)", m);
    return m;
}

static void run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        pe_test_fail(__FILE__, __LINE__, "%s: exit status %d", cmd, rc);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

/* The token directory of this test's SoftHSM2 (made by make_token). */
static const char *tokendir(void)
{
    return tpath("tokens");
}

/* A SoftHSM2 of this test's own with one fresh token labelled label, user PIN PIN, and the PIN
 * file "pin" (0600) holding PIN. */
static void make_token(const char *label)
{
    static char conf[4096];
    snprintf(conf, sizeof conf, "%s", tpath("softhsm2.conf"));
    char text[4200], cmd[8400];
    mkdir(tokendir(), 0700);
    snprintf(text, sizeof text,
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
             tokendir());
    write_file(conf, text, 0600);
    CHECK(setenv("SOFTHSM2_CONF", conf, 1) == 0);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label '%s' --pin %s --so-pin %s >/dev/null",
             label, PIN, SO_PIN);
    run(cmd);
    write_file(tpath("pin"), PIN "\n", 0600);
}

static int64_t fixed_now = T0;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return fixed_now++;
}

static struct pe_signer_conf conf_of(const char *pin_file)
{
    struct pe_signer_conf c = {
        .module = module(),
        .token_label = TOKEN,
        .key_label = KEY,
        .pin_file = pin_file,
        .store = STORE,
        .terminal = TERMINAL,
        .now = test_clock,
    };
    return c;
}

static const struct pe_signer_ops *ops(void)
{
    const struct pe_signer_ops *o = pe_signer_find("pkcs11");
    if (!o)
        pe_test_fail(__FILE__, __LINE__, "pkcs11 is not built in (signer names: %s)",
                     pe_signer_names());
    return o;
}

static struct pe_signer *open_ok(const struct pe_signer_conf *c)
{
    struct pe_signer *s = NULL;
    char err[512];
    int rc = pe_signer_open(ops(), c, &s, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open: %s (%s)", pe_errname(rc), err);
    return s;
}

/* Open expecting error want, with err containing every one of the NULL-ended needles and never
 * the PIN. */
static void open_refused(const struct pe_signer_conf *c, int want, ...)
{
    struct pe_signer *s = NULL;
    char err[512] = "";
    int rc = pe_signer_open(ops(), c, &s, err, sizeof err);
    if (rc != want)
        pe_test_fail(__FILE__, __LINE__, "open: %s, expected %s (%s)", pe_errname(rc),
                     pe_errname(want), err);
    CHECK(s == NULL);
    va_list ap;
    va_start(ap, want);
    for (const char *n; (n = va_arg(ap, const char *));)
        if (!strstr(err, n))
            pe_test_fail(__FILE__, __LINE__, "message \"%s\" does not name \"%s\"", err, n);
    va_end(ap);
    CHECK(!strstr(err, PIN));
}

static const char *hash_of(int n)
{
    static char hex[PE_SHA256_HEXLEN];
    uint8_t d[PE_SHA256_LEN];
    pe_sha256_2(&n, sizeof n, NULL, 0, d);
    pe_hex(d, sizeof d, hex);
    return hex;
}

/* sig verifies over hash under s's public key, and names s's key. */
static void verifies(const struct pe_signer *s, const char *hash, const struct pe_signature *sig)
{
    struct pe_signer_pub *pub = NULL;
    char kid[PE_SIGNER_KEY_ID_LEN];
    CHECK_OK(pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, kid));
    CHECK_STR(kid, pe_signer_key(s)->key_id);
    CHECK_STR(sig->key_id, kid);
    CHECK_STR(sig->alg, PE_SIGNER_ALG);
    CHECK_OK(pe_signer_verify(pub, hash, sig));
    /* Over another hash, or with another counter, it does not. */
    CHECK_INT(pe_signer_verify(pub, hash_of(-1), sig), PE_EDECLINED);
    struct pe_signature other = *sig;
    other.counter++;
    CHECK_INT(pe_signer_verify(pub, hash, &other), PE_EDECLINED);
    pe_signer_pub_free(pub);
}

/* ---- tests ---- */

/* The first open makes the key on the token; the next finds it with the same key id. */
static void t_key_made_then_found(void)
{
    make_token(TOKEN);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    c.find_only = true;
    open_refused(&c, PE_ENOTFOUND, KEY, TOKEN, (char *)NULL);
    c.find_only = false;
    struct pe_signer *s = open_ok(&c);
    const struct pe_signer_key *k = pe_signer_key(s);
    CHECK_STR(k->signer, "pkcs11");
    CHECK_STR(pe_signer_name(s), "pkcs11");
    CHECK_STR(k->alg, PE_SIGNER_ALG);
    CHECK_INT(strlen(k->key_id), PE_SIGNER_KEY_ID_LEN - 1);
    CHECK(strstr(k->public_key, "-----BEGIN PUBLIC KEY-----") != NULL);
    char kid[PE_SIGNER_KEY_ID_LEN], pem[512];
    CHECK_OK(pe_signer_key_id(k->public_key, kid));
    CHECK_STR(kid, k->key_id);
    snprintf(pem, sizeof pem, "%s", k->public_key);
    char desc[1024];
    CHECK_OK(pe_signer_describe(s, desc, sizeof desc));
    if (!strstr(desc, "sensitive, never extractable, made on the token") || !strstr(desc, TOKEN))
        pe_test_fail(__FILE__, __LINE__, "describe: %s", desc);
    pe_signer_close(s);

    c.find_only = true; /* found now, made nowhere */
    s = open_ok(&c);
    CHECK_STR(pe_signer_key(s)->key_id, kid);
    CHECK_STR(pe_signer_key(s)->public_key, pem);
    pe_signer_close(s);
    c.find_only = false;
    s = open_ok(&c);
    CHECK_STR(pe_signer_key(s)->key_id, kid);
    pe_signer_close(s);
    /* Another label on the same token is another key. */
    c.key_label = "fiscal-2";
    s = open_ok(&c);
    CHECK(strcmp(pe_signer_key(s)->key_id, kid) != 0);
    pe_signer_close(s);
}

/* Signatures verify with the public key alone, carry the counter and the signer's time, and the
 * counter continues from what the journal hands back. */
static void t_sign_verify(void)
{
    make_token(TOKEN);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    struct pe_signer *s = open_ok(&c);
    CHECK_INT(pe_signer_counter(s), 1);
    struct pe_signature sig;
    fixed_now = T0;
    for (int i = 1; i <= 5; i++) {
        CHECK_OK(pe_signer_sign(s, hash_of(i), &sig));
        CHECK_INT(sig.counter, i);
        CHECK_INT(sig.signed_ms, T0 + i - 1);
        verifies(s, hash_of(i), &sig);
    }
    CHECK_INT(pe_signer_counter(s), 6);
    /* The encoded signature is the software signer's format. */
    char enc[PE_SIGNER_ENCODED_MAX];
    struct pe_signature back;
    size_t n = pe_signature_encode(&sig, enc);
    CHECK(n > 0);
    CHECK_OK(pe_signature_decode(enc, n, &back, NULL, 0));
    CHECK(memcmp(&back, &sig, sizeof sig) == 0);
    /* Not a hash: refused, the counter kept. */
    CHECK_INT(pe_signer_sign(s, "not a hash", &sig), PE_EINVAL);
    CHECK_INT(pe_signer_counter(s), 6);
    /* The journal's last counter under this key. */
    CHECK_OK(pe_signer_resume(s, 41));
    CHECK_INT(pe_signer_counter(s), 42);
    CHECK_OK(pe_signer_sign(s, hash_of(42), &sig));
    CHECK_INT(sig.counter, 42);
    verifies(s, hash_of(42), &sig);
    CHECK_INT(pe_signer_resume(s, -1), PE_EINVAL);
    /* ECDSA is randomised on the token: the same input signs differently, both verify. */
    struct pe_signature a, b;
    CHECK_OK(pe_signer_resume(s, 99));
    fixed_now = T0;
    CHECK_OK(pe_signer_sign(s, hash_of(7), &a));
    CHECK_OK(pe_signer_resume(s, 99));
    fixed_now = T0;
    CHECK_OK(pe_signer_sign(s, hash_of(7), &b));
    CHECK(memcmp(a.rs, b.rs, sizeof a.rs) != 0);
    verifies(s, hash_of(7), &a);
    verifies(s, hash_of(7), &b);
    pe_signer_close(s);
}

/* Every refusal names what is wrong: the setting missing, the module, the token, the PIN file
 * (never the PIN); none of them, nor anything logged, holds the PIN. */
static void t_refusals(void)
{
    make_token(TOKEN);
    /* The log (stderr) into a file, to look for the PIN in it. */
    const char *log = tpath("log");
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    const char *pin = tpath("pin");

    struct pe_signer_conf c = conf_of(pin);
    c.module = "";
    open_refused(&c, PE_EINVAL, "signer.pkcs11_module", (char *)NULL);
    c = conf_of(pin);
    c.pin_file = NULL;
    open_refused(&c, PE_EINVAL, "signer.pkcs11_pin_file", (char *)NULL);
    c = conf_of(pin);
    c.token_label = "a-token-label-longer-than-32-octets";
    open_refused(&c, PE_EINVAL, "signer.pkcs11_token", (char *)NULL);

    /* A module that is not there, one that is no shared object, one that is no PKCS#11. */
    const char *none = tpath("no-such-module.so");
    c = conf_of(pin);
    c.module = none;
    open_refused(&c, PE_EINVAL, "signer.pkcs11_module", none, "cannot load", (char *)NULL);
    const char *text = tpath("text.so");
    write_file(text, "not an ELF file\n", 0600);
    c.module = text;
    open_refused(&c, PE_EINVAL, text, (char *)NULL);
    c.module = "libm.so.6";
    open_refused(&c, PE_EINVAL, "libm.so.6", "not a PKCS#11 module", (char *)NULL);

    /* No token of that label. */
    c = conf_of(pin);
    c.token_label = "elsewhere";
    open_refused(&c, PE_EIO, "\"elsewhere\"", module(), (char *)NULL);

    /* The PIN file: missing, open to others, wrong. */
    const char *nopin = tpath("no-pin");
    c = conf_of(nopin);
    open_refused(&c, PE_EINVAL, "signer.pkcs11_pin_file", nopin, (char *)NULL);
    write_file(pin, PIN "\n", 0644);
    c = conf_of(pin);
    open_refused(&c, PE_EINVAL, "signer.pkcs11_pin_file", pin, (char *)NULL);
    const char *wrong = tpath("wrong-pin");
    write_file(wrong, "000000\n", 0600);
    c = conf_of(wrong);
    open_refused(&c, PE_EDECLINED, "signer.pkcs11_pin_file", wrong, "CKR_PIN_INCORRECT",
                 (char *)NULL);
    /* A PIN file readable by its group (0640) is allowed, as for every secret file. */
    write_file(pin, PIN "\n", 0640);
    c = conf_of(pin);
    struct pe_signer *s = open_ok(&c);
    struct pe_signature sig;
    CHECK_OK(pe_signer_sign(s, hash_of(1), &sig));
    pe_signer_close(s);

    /* Not once in the log. */
    fflush(stderr);
    char buf[65536];
    fd = open(log, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK(strstr(buf, "signer.open") != NULL); /* the log was written here */
    if (strstr(buf, PIN))
        pe_test_fail(__FILE__, __LINE__, "the PIN is in the log");
}

/* A key found that was ever outside the token (imported), or could leave it, is refused. */
static void t_extractable_key_refused(void)
{
    make_token(TOKEN);
    /* A key made outside (by the software signer, in a file), imported under the label. */
    const char *pem = tpath("k.pem");
    struct pe_signer_conf sc = {.key_file = pem, .store = STORE, .terminal = TERMINAL};
    struct pe_signer *sw = NULL;
    char err[512], cmd[8400];
    CHECK_OK(pe_signer_open(pe_signer_find("software"), &sc, &sw, err, sizeof err));
    pe_signer_close(sw);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --import '%s' --token %s --label %s --id 01 --pin %s >/dev/null", pem,
             TOKEN, KEY, PIN);
    run(cmd);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    open_refused(&c, PE_ESTATE, KEY, TOKEN, "was not made on the token", (char *)NULL);
}

/* The token's directory, moved away (the token unplugged) and back. */
static const char *token_dir_name(void)
{
    static char name[512];
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls '%s'", tokendir());
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    CHECK(fgets(name, sizeof name, p) != NULL);
    pclose(p);
    name[strcspn(name, "\n")] = '\0';
    return name;
}

static void unplug(const char *dir)
{
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/%s", tokendir(), dir);
    snprintf(to, sizeof to, "%s/%s", tpath("away"), dir);
    mkdir(tpath("away"), 0700);
    CHECK(rename(from, to) == 0);
}

static void plug(const char *dir)
{
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/%s", tpath("away"), dir);
    snprintf(to, sizeof to, "%s/%s", tokendir(), dir);
    CHECK(rename(from, to) == 0);
}

/* Sign says PE_EIO while the token is gone, without consuming the counter; recover says PE_EIO
 * until it is back; then signing resumes with the same key and the next counter. */
static void t_token_removed_and_back(void)
{
    make_token(TOKEN);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    struct pe_signer *s = open_ok(&c);
    char kid[PE_SIGNER_KEY_ID_LEN];
    snprintf(kid, sizeof kid, "%s", pe_signer_key(s)->key_id);
    struct pe_signature sig;
    CHECK_OK(pe_signer_sign(s, hash_of(1), &sig));
    CHECK_OK(pe_signer_sign(s, hash_of(2), &sig));
    CHECK_INT(pe_signer_counter(s), 3);

    const char *dir = token_dir_name();
    unplug(dir);
    CHECK_INT(pe_signer_sign(s, hash_of(3), &sig), PE_EIO);
    CHECK_INT(pe_signer_counter(s), 3);
    CHECK_INT(pe_signer_sign(s, hash_of(3), &sig), PE_EIO); /* down until recovered */
    char err[512];
    for (int i = 0; i < 3; i++) {
        err[0] = '\0';
        CHECK_INT(pe_signer_recover(s, err, sizeof err), PE_EIO);
        if (!strstr(err, TOKEN))
            pe_test_fail(__FILE__, __LINE__, "recover: %s", err);
        CHECK_INT(pe_signer_sign(s, hash_of(3), &sig), PE_EIO);
    }
    CHECK_INT(pe_signer_counter(s), 3);
    /* What the journal learns meanwhile still counts (a rollback handing the counter back). */
    CHECK_OK(pe_signer_resume(s, 2));

    plug(dir);
    CHECK_OK(pe_signer_recover(s, err, sizeof err));
    CHECK_STR(pe_signer_key(s)->key_id, kid);
    CHECK_OK(pe_signer_sign(s, hash_of(3), &sig));
    CHECK_INT(sig.counter, 3);
    verifies(s, hash_of(3), &sig);
    /* Recovering a signer that is up opens it again, harmlessly. */
    CHECK_OK(pe_signer_recover(s, err, sizeof err));
    CHECK_OK(pe_signer_sign(s, hash_of(4), &sig));
    CHECK_INT(sig.counter, 4);
    verifies(s, hash_of(4), &sig);
    pe_signer_close(s);
}

/* A token put back that holds another key under the label is not signed with. */
static void t_other_token_refused(void)
{
    make_token(TOKEN);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    struct pe_signer *s = open_ok(&c);
    struct pe_signature sig;
    CHECK_OK(pe_signer_sign(s, hash_of(1), &sig));
    unplug(token_dir_name());
    CHECK_INT(pe_signer_sign(s, hash_of(2), &sig), PE_EIO);
    /* Another token of the same label and PIN, given a key of that label. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label '%s' --pin %s --so-pin %s >/dev/null",
             TOKEN, PIN, SO_PIN);
    run(cmd);
    char err[512];
    /* First without a key of that label... */
    CHECK_INT(pe_signer_recover(s, err, sizeof err), PE_ESTATE);
    if (!strstr(err, "no key \"" KEY "\""))
        pe_test_fail(__FILE__, __LINE__, "recover: %s", err);
    /* ...then with one (made by a signer of its own: the module is one per process, and a
     * failed recover has finalised it). */
    struct pe_signer *other = open_ok(&c);
    CHECK(strcmp(pe_signer_key(other)->key_id, pe_signer_key(s)->key_id) != 0);
    pe_signer_close(other);
    CHECK_INT(pe_signer_recover(s, err, sizeof err), PE_ESTATE);
    if (!strstr(err, "not the key in use"))
        pe_test_fail(__FILE__, __LINE__, "recover: %s", err);
    CHECK_INT(pe_signer_sign(s, hash_of(2), &sig), PE_EIO);
    CHECK_INT(pe_signer_counter(s), 2);
    pe_signer_close(s);
}

#ifdef PE_FAULT_INJECTION
/* The lines of the log file that hold needle. */
static int log_count(const char *log, const char *needle)
{
    fflush(stderr);
    FILE *f = fopen(log, "r");
    CHECK(f != NULL);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Every CKR_ code that says the token or its session is gone makes the signer down (PE_EIO, the
 * counter kept, the code logged once however often sign is asked) until recover finds it back;
 * a code that says the signing failed is PE_ESYS and leaves the signer up. The codes are
 * injected (PE_TEST_PKCS11_FAULT, test builds only) in place of the token's answer. */
static void t_injected_codes(void)
{
    make_token(TOKEN);
    const char *log = tpath("log"), *fault = tpath("fault");
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    CHECK(setenv("PE_TEST_PKCS11_FAULT", fault, 1) == 0);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    struct pe_signer *s = open_ok(&c);
    struct pe_signature sig;
    char err[512], want[96];
    int64_t next = 1;
    static const char *const gone[] = {"CKR_DEVICE_REMOVED", "CKR_SESSION_HANDLE_INVALID",
                                       "CKR_TOKEN_NOT_PRESENT", "CKR_DEVICE_ERROR",
                                       "CKR_SESSION_CLOSED", "CKR_USER_NOT_LOGGED_IN"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        CHECK_OK(pe_signer_sign(s, hash_of((int)next), &sig));
        CHECK_INT(sig.counter, next++);
        write_file(fault, gone[i], 0600);
        for (int k = 0; k < 3; k++)
            CHECK_INT(pe_signer_sign(s, hash_of((int)next), &sig), PE_EIO);
        CHECK_INT(pe_signer_counter(s), next);
        snprintf(want, sizeof want, "event=signer.down signer=pkcs11 token=\"%s\" counter=%lld "
                 "err=%s", TOKEN, (long long)next, gone[i]);
        CHECK_INT(log_count(log, want), 1);
        CHECK_INT(pe_signer_recover(s, err, sizeof err), PE_EIO);
        if (!strstr(err, gone[i]))
            pe_test_fail(__FILE__, __LINE__, "recover: %s", err);
        CHECK(unlink(fault) == 0);
        CHECK_OK(pe_signer_recover(s, err, sizeof err));
        CHECK_OK(pe_signer_sign(s, hash_of((int)next), &sig));
        CHECK_INT(sig.counter, next++);
        verifies(s, hash_of((int)next - 1), &sig);
    }
    /* The signing failed, the token is there: an error of that one signature, not down. */
    write_file(fault, "CKR_FUNCTION_FAILED", 0600);
    CHECK_INT(pe_signer_sign(s, hash_of((int)next), &sig), PE_ESYS);
    CHECK_INT(pe_signer_counter(s), next);
    CHECK_INT(log_count(log, "event=signer.sign_failed signer=pkcs11"), 1);
    CHECK_INT(log_count(log, "err=CKR_FUNCTION_FAILED"), 1);
    CHECK(unlink(fault) == 0);
    CHECK_OK(pe_signer_sign(s, hash_of((int)next), &sig)); /* no recover needed */
    CHECK_INT(sig.counter, next);
    pe_signer_close(s);
    /* A token gone at open: PE_EIO naming the code. */
    write_file(fault, "CKR_TOKEN_NOT_PRESENT", 0600);
    open_refused(&c, PE_EIO, "CKR_TOKEN_NOT_PRESENT", (char *)NULL);
}
#endif

/* The journal signs with the token as with the software signer, and continues the counter
 * after a restart. */
static void t_journal_signs(void)
{
    make_token(TOKEN);
    struct pe_signer_conf c = conf_of(tpath("pin"));
    const char *path = tpath("journal.db");
    for (int round = 0; round < 2; round++) {
        struct pe_signer *s = open_ok(&c);
        struct pe_journal_opts o = {.store = STORE, .terminal = TERMINAL, .check = true};
        struct pe_journal *j = NULL;
        char err[512];
        CHECK_OK(pe_journal_open(path, &o, &j, err, sizeof err));
        CHECK_OK(pe_journal_set_signer(j, s));
        int first = round * 4 + 1;
        for (int n = first; n < first + 4; n++) {
            struct pe_event_meta m = {.type = n == 1 ? PE_EV_SIGNER_INSTALLED : PE_EV_SALE};
            snprintf(m.id, sizeof m.id, "0a1b2c3d-0000-4000-8000-%012d", n);
            strcpy(m.store, STORE);
            strcpy(m.terminal, TERMINAL);
            strcpy(m.operator_, "op1");
            m.ts_ms = T0 + n;
            cJSON *b = NULL;
            if (n == 1) {
                CHECK_OK(pe_signer_installed_body(pe_signer_key(s), &b));
            } else {
                b = cJSON_CreateObject();
                CHECK_OK(pe_json_add_int(b, "total", 100 * n));
            }
            struct pe_journal_appended a;
            CHECK_OK(pe_journal_begin(j));
            CHECK_OK(pe_journal_append(j, &m, b, &a));
            CHECK_OK(pe_journal_commit(j));
            cJSON_Delete(b);
        }
        CHECK_INT(pe_signer_counter(s), first + 4);
        struct pe_journal_verify_result r;
        CHECK_OK(pe_journal_verify(j, &r));
        CHECK_INT(r.count, first + 3);
        CHECK_INT(r.nsigned, first + 3);
        CHECK_STR(r.key_id, pe_signer_key(s)->key_id);
        pe_journal_close(j);
        pe_signer_close(s);
    }
}

static const struct pe_test tests[] = {
    {"key_made_then_found", t_key_made_then_found},
    {"sign_verify", t_sign_verify},
    {"refusals", t_refusals},
    {"extractable_key_refused", t_extractable_key_refused},
    {"token_removed_and_back", t_token_removed_and_back},
    {"other_token_refused", t_other_token_refused},
    {"journal_signs", t_journal_signs},
#ifdef PE_FAULT_INJECTION
    {"injected_codes", t_injected_codes},
#endif
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("signer_pkcs11", tests, argc, argv);
}

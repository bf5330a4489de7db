/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer_pkcs11.c - the `pkcs11` signer: an ECDSA P-256 key made on a PKCS#11 token (a smart
 * card, a TPM through tpm2-pkcs11, an HSM; SoftHSM2 in the tests) that never leaves it.
 *
 * The token's module is loaded with dlopen (signer.pkcs11_module), so posedge links to no
 * PKCS#11 library and needs only the Cryptoki header (p11-kit's) to build. Opening finds the slot
 * by the token's label (slot ids change when a token is initialised or plugged elsewhere), logs
 * in as the user with the PIN read from signer.pkcs11_pin_file (secret.h: refused when others may
 * read it; read into a stack buffer at each login, wiped at once, never logged nor kept), and
 * finds the key pair by its label (signer.pkcs11_key). When there is none it generates one on the
 * token: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN only (no decrypt,
 * unwrap or derive), so the private key can never be read out, not even wrapped. A key found
 * that was ever outside the token or could leave it (not CKA_ALWAYS_SENSITIVE, or not
 * CKA_NEVER_EXTRACTABLE: imported, or extractable once) is refused; so is one whose private half
 * does not sign for its public half (checked with one signature over a fixed digest at every
 * open).
 *
 * Signing: SoftHSM2 and most tokens offer only CKM_ECDSA (no CKM_ECDSA_SHA256), so the digest of
 * the signed message is made here (signer.c: pe_signer_prepare) and the token signs those 32
 * octets; CKM_ECDSA's result is r || s, exactly the signature signer.h stores.
 *
 * The counter is kept as the software signer keeps it (signer_software.c says why): its durable
 * home is the journal's row of each signed event, handed back through resume. A token's own
 * monotonic counter (none in SoftHSM2) would be checked against it in resume (a later issue).
 *
 * The token gone. A token unplugged, or a token directory of SoftHSM2 moved away, shows as one of
 * several codes from C_SignInit or C_Sign (SoftHSM2: CKR_OBJECT_HANDLE_INVALID, not
 * CKR_DEVICE_REMOVED), so every code that says the device, the session, the login or the key
 * handle is gone (ck_results below, PE_EIO) marks the signer down: sign answers PE_EIO without
 * consuming the counter, until recover has opened it again. Recovering finalises the module (when
 * this signer initialised it: many modules, SoftHSM2 among them, scan for tokens only in
 * C_Initialize) and goes through opening again without generating anything: it succeeds only with
 * the same key, by its key id, so a token swapped for another one is never silently signed with.
 * Test builds (PE_FAULT_INJECTION) inject any CKR_ code in place of the token's answer while a
 * file named by $PE_TEST_PKCS11_FAULT exists (injected, below).
 * A module's state is one per process (PKCS#11 has no per-caller context), so a process holds
 * one pkcs11 signer per module at a time: recovering one finalises the module under any other.
 */
#include <dlfcn.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/secret.h"
#include "posedge/signer.h"

#define LABEL_MAX 64 /* the key's label; a token's is 32 octets, blank-padded */
#define PATH_MAX_ 4096
#define DESC_MAX 192

/* The DER of the P-256 curve's OID, as CKA_EC_PARAMS holds it. */
static const CK_BYTE p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* The PKCS#11 results this signer tells apart, with their posedge errors: X(name, error).
 * PE_EIO is the signer down (signer.h): the device, the session, the login or a handle is gone.
 * Anything not listed is PE_ESYS. */
#define CK_RESULTS(X)                                                                              \
    X(CKR_OK, PE_OK)                                                                               \
    X(CKR_HOST_MEMORY, PE_ENOMEM)                                                                  \
    X(CKR_DEVICE_MEMORY, PE_ENOMEM)                                                                \
    X(CKR_GENERAL_ERROR, PE_EIO)                                                                   \
    X(CKR_DEVICE_ERROR, PE_EIO)                                                                    \
    X(CKR_DEVICE_REMOVED, PE_EIO)                                                                  \
    X(CKR_TOKEN_NOT_PRESENT, PE_EIO)                                                               \
    X(CKR_TOKEN_NOT_RECOGNIZED, PE_EIO)                                                            \
    X(CKR_SLOT_ID_INVALID, PE_EIO)                                                                 \
    X(CKR_SESSION_HANDLE_INVALID, PE_EIO)                                                          \
    X(CKR_SESSION_CLOSED, PE_EIO)                                                                  \
    X(CKR_OBJECT_HANDLE_INVALID, PE_EIO)                                                           \
    X(CKR_KEY_HANDLE_INVALID, PE_EIO)                                                              \
    X(CKR_USER_NOT_LOGGED_IN, PE_EIO)                                                              \
    X(CKR_CRYPTOKI_NOT_INITIALIZED, PE_EIO)                                                        \
    X(CKR_PIN_INCORRECT, PE_EDECLINED)                                                             \
    X(CKR_PIN_INVALID, PE_EDECLINED)                                                               \
    X(CKR_PIN_LEN_RANGE, PE_EDECLINED)                                                             \
    X(CKR_PIN_EXPIRED, PE_EDECLINED)                                                               \
    X(CKR_PIN_LOCKED, PE_EDECLINED)                                                                \
    X(CKR_USER_PIN_NOT_INITIALIZED, PE_EDECLINED)                                                  \
    X(CKR_FUNCTION_FAILED, PE_ESYS)                                                                \
    X(CKR_ATTRIBUTE_SENSITIVE, PE_ESYS)                                                            \
    X(CKR_MECHANISM_INVALID, PE_ESYS)                                                              \
    X(CKR_TOKEN_WRITE_PROTECTED, PE_ESYS)

static int ck_err(CK_RV rv)
{
#define CK_CASE(name, e)                                                                           \
    if (rv == (name))                                                                              \
        return (e);
    CK_RESULTS(CK_CASE)
#undef CK_CASE
    return PE_ESYS;
}

/* The result's name for messages; buf holds an unknown one's number. */
static const char *ck_name(CK_RV rv, char buf[24])
{
#define CK_CASE(name, e)                                                                           \
    if (rv == (name))                                                                              \
        return #name;
    CK_RESULTS(CK_CASE)
#undef CK_CASE
    snprintf(buf, 24, "CKR_0x%lx", (unsigned long)rv);
    return buf;
}

#ifdef PE_FAULT_INJECTION
/*
 * Test builds only: while the file named by $PE_TEST_PKCS11_FAULT exists, signing (in place of
 * C_SignInit) and finding the token (in place of C_GetSlotList, at open and recover) answer the
 * CKR_ code of its first line, without calling the token: a token failing or removed on demand,
 * for tests of every code and of the signer down (a system test creates and removes the file
 * under a running agent). A name not in CK_RESULTS is CKR_GENERAL_ERROR.
 */
static CK_RV injected(void)
{
    const char *path = getenv("PE_TEST_PKCS11_FAULT");
    FILE *f = path && path[0] ? fopen(path, "r") : NULL;
    if (!f)
        return CKR_OK;
    char name[64] = "";
    if (!fgets(name, sizeof name, f))
        name[0] = '\0';
    fclose(f);
    name[strcspn(name, "\r\n")] = '\0';
#define CK_NAMED(n, e)                                                                             \
    if (strcmp(name, #n) == 0 && (n) != CKR_OK)                                                    \
        return (n);
    CK_RESULTS(CK_NAMED)
#undef CK_NAMED
    return CKR_GENERAL_ERROR;
}
#else
static CK_RV injected(void)
{
    return CKR_OK;
}
#endif

struct pkcs11 {
    struct pe_signer s;             /* first: the handle */
    void *lib;                      /* the module (dlopen) */
    CK_FUNCTION_LIST_PTR f;         /* its functions */
    bool initialized;               /* C_Initialize done (by this signer or another) */
    bool ours;                      /* this signer initialised the module: it finalises it */
    CK_SLOT_ID slot;                /* the token's slot, found by its label */
    CK_SESSION_HANDLE session;      /* logged in as the user */
    bool have_session;              /* session is open */
    CK_OBJECT_HANDLE priv;          /* the private key, in session */
    bool down;                      /* a sign said the device is gone: PE_EIO until recover */
    char module[PATH_MAX_];         /* signer.pkcs11_module */
    char token[33];                 /* signer.pkcs11_token (at most 32 octets) */
    char key_label[LABEL_MAX + 1];  /* signer.pkcs11_key */
    char pin_file[PATH_MAX_];       /* signer.pkcs11_pin_file: read at each login, never kept */
    char desc[DESC_MAX];            /* the token's manufacturer, model and serial */
    struct pe_signer_key pub;       /* what signer_installed records */
    int64_t next;                   /* the counter of the next signature */
    int64_t (*now)(void *ctx);
    void *now_ctx;
};

static struct pkcs11 *p11(struct pe_signer *s)
{
    return (struct pkcs11 *)(void *)s;
}

static const struct pkcs11 *cp11(const struct pe_signer *s)
{
    return (const struct pkcs11 *)(const void *)s;
}

static int64_t real_clock(void *ctx)
{
    (void)ctx;
    return pe_time_now_ms();
}

/* err = "signer pkcs11: <what>: <CKR name>", and the posedge error of rv. */
static int fail(CK_RV rv, const char *what, char *err, size_t errlen)
{
    char b[24];
    snprintf(err, errlen, "signer pkcs11: %s: %s", what, ck_name(rv, b));
    return ck_err(rv);
}

/* A blank-padded PKCS#11 text field as a C string (blanks at the end cut). */
static void ck_text(const CK_UTF8CHAR *f, size_t n, char *out, size_t outlen)
{
    while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
        n--;
    snprintf(out, outlen, "%.*s", (int)n, (const char *)f);
}

/* ---- the module ---- */

static int load(struct pkcs11 *w, char *err, size_t errlen)
{
    w->lib = dlopen(w->module, RTLD_NOW | RTLD_LOCAL);
    if (!w->lib) {
        const char *why = dlerror();
        snprintf(err, errlen, "signer pkcs11: signer.pkcs11_module %s: cannot load: %s", w->module,
                 why ? why : "?");
        return PE_EINVAL;
    }
    CK_C_GetFunctionList gfl;
    void *sym = dlsym(w->lib, "C_GetFunctionList");
    memcpy(&gfl, &sym, sizeof gfl); /* POSIX: a dlsym result is a function's address */
    if (!sym || gfl(&w->f) != CKR_OK || !w->f) {
        snprintf(err, errlen, "signer pkcs11: signer.pkcs11_module %s: not a PKCS#11 module",
                 w->module);
        return PE_EINVAL;
    }
    return PE_OK;
}

/* Close the session and finalise the module when it is this signer's; what is left is the loaded
 * module. Safe to call at any point. */
static void detach(struct pkcs11 *w)
{
    if (w->have_session)
        (void)w->f->C_CloseSession(w->session);
    w->have_session = false;
    w->priv = CK_INVALID_HANDLE;
    if (w->initialized && w->ours)
        (void)w->f->C_Finalize(NULL);
    w->initialized = w->ours = false;
}

static int initialize(struct pkcs11 *w, char *err, size_t errlen)
{
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = w->f->C_Initialize(&ia);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return fail(rv, "C_Initialize", err, errlen);
    w->initialized = true;
    w->ours = rv == CKR_OK; /* else another part of this process uses the module */
    return PE_OK;
}

/* The slot of the initialised token labelled w->token. Errors: PE_EIO (no such token present). */
static int find_slot(struct pkcs11 *w, char *err, size_t errlen)
{
    CK_ULONG n = 0;
    CK_RV rv = injected();
    if (rv == CKR_OK)
        rv = w->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return fail(rv, "C_GetSlotList", err, errlen);
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
    if (!slots)
        return PE_ENOMEM;
    rv = w->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        free(slots);
        return fail(rv, "C_GetSlotList", err, errlen);
    }
    CK_UTF8CHAR want[32];
    memset(want, ' ', sizeof want);
    memcpy(want, w->token, strlen(w->token));
    int rc = PE_EIO;
    for (CK_ULONG i = 0; i < n && rc != PE_OK; i++) {
        CK_TOKEN_INFO ti;
        if (w->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
            !(ti.flags & CKF_TOKEN_INITIALIZED) || memcmp(ti.label, want, sizeof want) != 0)
            continue;
        char man[33], model[17], serial[17];
        ck_text(ti.manufacturerID, sizeof ti.manufacturerID, man, sizeof man);
        ck_text(ti.model, sizeof ti.model, model, sizeof model);
        ck_text(ti.serialNumber, sizeof ti.serialNumber, serial, sizeof serial);
        snprintf(w->desc, sizeof w->desc, "%s %s serial %s", man, model, serial);
        w->slot = slots[i];
        rc = PE_OK;
    }
    free(slots);
    if (rc)
        snprintf(err, errlen, "signer pkcs11: no token labelled \"%s\" present in %s", w->token,
                 w->module);
    return rc;
}

/* A read-write session logged in as the user, the PIN read from its file for this login only. */
static int login(struct pkcs11 *w, char *err, size_t errlen)
{
    char pin[PE_SECRET_MAX];
    int rc = pe_secret_read("signer.pkcs11_pin_file", w->pin_file, PE_SECRET_PRIVATE, pin,
                            sizeof pin, err, errlen);
    if (rc)
        return rc == PE_EIO ? PE_EINVAL : rc; /* a PIN file missing is the setting's fault */
    CK_RV rv = w->f->C_OpenSession(w->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                   &w->session);
    if (rv != CKR_OK) {
        rc = fail(rv, "C_OpenSession", err, errlen);
        goto wipe;
    }
    w->have_session = true;
    rv = w->f->C_Login(w->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) { /* login is per process and token */
        char b[24];
        snprintf(err, errlen,
                 "signer pkcs11: token \"%s\" refuses the user PIN of signer.pkcs11_pin_file %s: "
                 "C_Login: %s",
                 w->token, w->pin_file, ck_name(rv, b));
        rc = ck_err(rv);
    }
wipe:
    pe_secret_wipe(pin, sizeof pin);
    return rc;
}

/* The objects of class labelled w->key_label: *h the first, *count how many (at most 2). */
static int find(struct pkcs11 *w, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *h, CK_ULONG *count,
                char *err, size_t errlen)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_LABEL, w->key_label, strlen(w->key_label)},
    };
    CK_OBJECT_HANDLE found[2];
    CK_RV rv = w->f->C_FindObjectsInit(w->session, t, 2);
    if (rv != CKR_OK)
        return fail(rv, "C_FindObjectsInit", err, errlen);
    rv = w->f->C_FindObjects(w->session, found, 2, count);
    CK_RV fin = w->f->C_FindObjectsFinal(w->session);
    if (rv == CKR_OK)
        rv = fin;
    if (rv != CKR_OK)
        return fail(rv, "C_FindObjects", err, errlen);
    *h = *count ? found[0] : CK_INVALID_HANDLE;
    return PE_OK;
}

/* A P-256 key pair made on the token, its private half sign-only and never extractable. */
static int generate(struct pkcs11 *w, CK_OBJECT_HANDLE *pub, char *err, size_t errlen)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG lab = strlen(w->key_label);
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {
        {CKA_EC_PARAMS, (void *)p256_oid, sizeof p256_oid},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},
        {CKA_WRAP, &no, sizeof no},
        {CKA_LABEL, w->key_label, lab},
    };
    CK_ATTRIBUTE kt[] = {
        {CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},      {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},      {CKA_DERIVE, &no, sizeof no},
        {CKA_LABEL, w->key_label, lab},
    };
    CK_RV rv = w->f->C_GenerateKeyPair(w->session, &m, pt, sizeof pt / sizeof pt[0], kt,
                                       sizeof kt / sizeof kt[0], pub, &w->priv);
    if (rv != CKR_OK)
        return fail(rv, "C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, P-256)", err, errlen);
    pe_info("signer.key_created", "signer=pkcs11 token=\"%s\" key_label=\"%s\"", w->token,
            w->key_label);
    return PE_OK;
}

/* One attribute of up to cap octets into buf; *len its length. */
static CK_RV attr(const struct pkcs11 *w, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf,
                  CK_ULONG cap, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {type, buf, cap};
    CK_RV rv = w->f->C_GetAttributeValue(w->session, h, &a, 1);
    *len = a.ulValueLen;
    return rv;
}

static bool flag(const struct pkcs11 *w, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, bool *v)
{
    CK_BBOOL b = CK_FALSE;
    CK_ULONG n;
    if (attr(w, h, type, &b, sizeof b, &n) != CKR_OK || n != sizeof b)
        return false;
    *v = b == CK_TRUE;
    return true;
}

/* The P-256 public key of an uncompressed point (0x04 X Y), bare or inside a DER OCTET STRING
 * as CKA_EC_POINT holds it, into kp. */
static int point_key(const CK_BYTE *pt, CK_ULONG n, mbedtls_ecp_keypair *kp)
{
    if (n == 67 && pt[0] == 0x04 && pt[1] == 0x41) {
        pt += 2;
        n -= 2;
    }
    if (n != 65 || pt[0] != 0x04)
        return PE_EPARSE;
    if (mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1) != 0)
        return PE_ENOMEM;
    if (mbedtls_ecp_point_read_binary(&kp->grp, &kp->Q, pt, n) != 0 ||
        mbedtls_ecp_check_pubkey(&kp->grp, &kp->Q) != 0)
        return PE_EINVAL;
    return PE_OK;
}

/* A fixed digest, signed at every open to see the two halves belong together. It is no signed
 * message of signer.h (those are digests of text), so it can never pass for a record's. */
static const uint8_t probe[PE_SHA256_LEN] = "posedge-pkcs11-pair-check/1.....";

/* Read the public half, check its curve, that the private half may never leave the token and
 * signs for it, and set w->pub. */
static int take_key(struct pkcs11 *w, CK_OBJECT_HANDLE pub, char *err, size_t errlen)
{
    CK_BYTE params[32], point[80];
    CK_ULONG np, nq;
    CK_RV rv = attr(w, pub, CKA_EC_PARAMS, params, sizeof params, &np);
    if (rv == CKR_OK)
        rv = attr(w, pub, CKA_EC_POINT, point, sizeof point, &nq);
    if (rv != CKR_OK)
        return fail(rv, "C_GetAttributeValue (CKA_EC_PARAMS, CKA_EC_POINT)", err, errlen);
    /* Made on the token and never out of it: a key imported (once outside, as a file or
     * wrapped) or one that may be read out now is not a key only this signer can use. */
    bool always = false, never = false;
    if (!flag(w, w->priv, CKA_ALWAYS_SENSITIVE, &always) ||
        !flag(w, w->priv, CKA_NEVER_EXTRACTABLE, &never) || !always || !never) {
        snprintf(err, errlen,
                 "signer pkcs11: key \"%s\" on token \"%s\" was not made on the token and kept "
                 "there (it was imported, or is or was extractable or not sensitive): use a key "
                 "posedge makes (another signer.pkcs11_key)",
                 w->key_label, w->token);
        return PE_ESTATE;
    }
    if (np != sizeof p256_oid || memcmp(params, p256_oid, np) != 0) {
        snprintf(err, errlen, "signer pkcs11: key \"%s\" on token \"%s\" is not a P-256 key",
                 w->key_label, w->token);
        return PE_ESTATE;
    }
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    unsigned char pem[512];
    CK_BYTE rs[PE_SIGNER_SIG_LEN];
    CK_ULONG nrs = sizeof rs;
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    int rc = PE_ENOMEM;
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
        goto out;
    if ((rc = point_key(point, nq, mbedtls_pk_ec(pk)))) {
        snprintf(err, errlen, "signer pkcs11: key \"%s\": CKA_EC_POINT is not a P-256 point",
                 w->key_label);
        rc = PE_ESTATE;
        goto out;
    }
    rv = w->f->C_SignInit(w->session, &m, w->priv);
    if (rv == CKR_OK)
        rv = w->f->C_Sign(w->session, (CK_BYTE_PTR)probe, sizeof probe, rs, &nrs);
    if (rv != CKR_OK) {
        rc = fail(rv, "C_Sign (CKM_ECDSA)", err, errlen);
        goto out;
    }
    mbedtls_ecp_keypair *kp = mbedtls_pk_ec(pk);
    if (nrs != sizeof rs || mbedtls_mpi_read_binary(&r, rs, 32) != 0 ||
        mbedtls_mpi_read_binary(&s, rs + 32, 32) != 0 ||
        mbedtls_ecdsa_verify(&kp->grp, probe, sizeof probe, &kp->Q, &r, &s) != 0) {
        snprintf(err, errlen,
                 "signer pkcs11: key \"%s\" on token \"%s\": the private key does not sign for "
                 "the public key of that label",
                 w->key_label, w->token);
        rc = PE_ESTATE;
        goto out;
    }
    if (mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof pem) != 0) {
        rc = PE_ESYS;
        goto out;
    }
    char kid[PE_SIGNER_KEY_ID_LEN];
    if ((rc = pe_signer_key_id((const char *)pem, kid))) {
        snprintf(err, errlen, "signer pkcs11: key \"%s\": its public key does not parse back",
                 w->key_label);
        goto out;
    }
    if (w->pub.public_key && strcmp(kid, w->pub.key_id) != 0) {
        snprintf(err, errlen,
                 "signer pkcs11: key \"%s\" on token \"%s\" is %s, not the key in use %s",
                 w->key_label, w->token, kid, w->pub.key_id);
        rc = PE_ESTATE;
        goto out;
    }
    if (!w->pub.public_key) {
        if (!(w->pub.public_key = strdup((const char *)pem))) {
            rc = PE_ENOMEM;
            goto out;
        }
        memcpy(w->pub.key_id, kid, sizeof kid);
    }
    rc = PE_OK;
out:
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_pk_free(&pk);
    return rc;
}

/*
 * Initialise, find the token, log in, find the key (or make it when make is set) and take it.
 * With a key already in use (recover) only that key is taken. Errors: as pe_signer_open says.
 */
static int attach(struct pkcs11 *w, bool make, char *err, size_t errlen)
{
    int rc;
    if ((rc = initialize(w, err, errlen)) || (rc = find_slot(w, err, errlen)) ||
        (rc = login(w, err, errlen)))
        return rc;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
    CK_ULONG npriv = 0, npub = 0;
    if ((rc = find(w, CKO_PRIVATE_KEY, &w->priv, &npriv, err, errlen)) ||
        (rc = find(w, CKO_PUBLIC_KEY, &pub, &npub, err, errlen)))
        return rc;
    if (npriv == 0 && npub == 0) {
        if (!make) {
            snprintf(err, errlen, "signer pkcs11: no key \"%s\" on token \"%s\"", w->key_label,
                     w->token);
            return w->pub.public_key ? PE_ESTATE : PE_ENOTFOUND;
        }
        if ((rc = generate(w, &pub, err, errlen)))
            return rc;
    } else if (npriv != 1 || npub != 1) {
        snprintf(err, errlen,
                 "signer pkcs11: token \"%s\" holds %s%lu private and %s%lu public keys labelled "
                 "\"%s\": exactly one of each is needed",
                 w->token, npriv > 1 ? "more than " : "", (unsigned long)(npriv > 1 ? 1 : npriv),
                 npub > 1 ? "more than " : "", (unsigned long)(npub > 1 ? 1 : npub),
                 w->key_label);
        return PE_ESTATE;
    }
    return take_key(w, pub, err, errlen);
}

/* ---- the ops ---- */

static void p11_close(struct pe_signer *s)
{
    struct pkcs11 *w = p11(s);
    if (w->f)
        detach(w);
    if (w->lib)
        dlclose(w->lib);
    free(w->pub.public_key);
    free(w);
}

/* Copy a setting into dst, refusing it empty or too long. */
static int setting(const char *name, const char *v, char *dst, size_t cap, char *err,
                   size_t errlen)
{
    if (!v || !v[0] || strlen(v) >= cap) {
        snprintf(err, errlen, "signer pkcs11: %s must be set (at most %zu octets)", name,
                 cap - 1);
        return PE_EINVAL;
    }
    memcpy(dst, v, strlen(v) + 1);
    return PE_OK;
}

static int p11_open(const struct pe_signer_conf *c, struct pe_signer **out, char *err,
                    size_t errlen)
{
    struct pkcs11 *w = calloc(1, sizeof *w);
    if (!w)
        return PE_ENOMEM;
    w->s.ops = &pe_signer_pkcs11;
    w->now = c->now ? c->now : real_clock;
    w->now_ctx = c->now_ctx;
    w->next = 1;
    w->priv = CK_INVALID_HANDLE;
    w->pub.signer = pe_signer_pkcs11.name;
    w->pub.alg = PE_SIGNER_ALG;
    int rc;
    if ((rc = setting("signer.pkcs11_module", c->module, w->module, sizeof w->module, err,
                      errlen)) ||
        (rc = setting("signer.pkcs11_token", c->token_label, w->token, sizeof w->token, err,
                      errlen)) ||
        (rc = setting("signer.pkcs11_key", c->key_label, w->key_label, sizeof w->key_label, err,
                      errlen)) ||
        (rc = setting("signer.pkcs11_pin_file", c->pin_file, w->pin_file, sizeof w->pin_file, err,
                      errlen)))
        goto fail;
    if ((rc = load(w, err, errlen)) || (rc = attach(w, !c->find_only, err, errlen)))
        goto fail;
    pe_info("signer.open", "signer=pkcs11 key_id=%s token=\"%s\" key_label=\"%s\" module=\"%s\"",
            w->pub.key_id, w->token, w->key_label, w->module);
    *out = &w->s;
    return PE_OK;

fail:
    p11_close(&w->s);
    return rc;
}

static const struct pe_signer_key *p11_key(const struct pe_signer *s)
{
    return &cp11(s)->pub;
}

static int64_t p11_counter(const struct pe_signer *s)
{
    return cp11(s)->next;
}

static int p11_resume(struct pe_signer *s, int64_t last)
{
    return pe_signer_counter_resume(&p11(s)->next, last);
}

/* Sign digest on the token into rs; what names the request in the log (a counter, or a
 * receipt). PE_EIO marks the signer down (the token, its session or the key is gone). */
static int sign_digest(struct pkcs11 *w, const uint8_t digest[PE_SHA256_LEN],
                       uint8_t rs[PE_SIGNER_SIG_LEN], const char *what)
{
    if (w->down)
        return PE_EIO;
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_ULONG n = PE_SIGNER_SIG_LEN;
    CK_RV rv = injected();
    if (rv == CKR_OK)
        rv = w->f->C_SignInit(w->session, &m, w->priv);
    if (rv == CKR_OK)
        rv = w->f->C_Sign(w->session, (CK_BYTE_PTR)digest, PE_SHA256_LEN, rs, &n);
    char b[24];
    if (rv != CKR_OK && ck_err(rv) == PE_EIO) {
        w->down = true;
        pe_error("signer.down", "signer=pkcs11 token=\"%s\" %s err=%s", w->token, what,
                 ck_name(rv, b));
        return PE_EIO;
    }
    if (rv != CKR_OK || n != PE_SIGNER_SIG_LEN) {
        pe_error("signer.sign_failed", "signer=pkcs11 token=\"%s\" %s err=%s len=%lu", w->token,
                 what, ck_name(rv, b), (unsigned long)n);
        return rv == CKR_HOST_MEMORY ? PE_ENOMEM : PE_ESYS;
    }
    return PE_OK;
}

static int p11_sign(struct pe_signer *s, const char *hash, struct pe_signature *out)
{
    struct pkcs11 *w = p11(s);
    if (w->down)
        return PE_EIO;
    struct pe_signature g;
    uint8_t digest[PE_SHA256_LEN];
    int rc = pe_signer_prepare(w->next, w->pub.key_id, w->now, w->now_ctx, hash, &g, digest);
    if (rc)
        return rc;
    char what[40];
    snprintf(what, sizeof what, "counter=%lld", (long long)g.counter);
    if ((rc = sign_digest(w, digest, g.rs, what)))
        return rc;
    w->next++;
    *out = g;
    return PE_OK;
}

/* A receipt's QR code payload (signer.h, pe_signer_sign_receipt): no counter. */
static int p11_sign_receipt(struct pe_signer *s, const char *msg, size_t len,
                            uint8_t rs[PE_SIGNER_SIG_LEN])
{
    uint8_t digest[PE_SHA256_LEN];
    pe_sha256_2(msg, len, NULL, 0, digest);
    return sign_digest(p11(s), digest, rs, "receipt=qr");
}

static int p11_recover(struct pe_signer *s, char *err, size_t errlen)
{
    struct pkcs11 *w = p11(s);
    detach(w);
    int rc = attach(w, false, err, errlen);
    if (rc) {
        detach(w); /* the next attempt starts from a finalised module */
        return rc;
    }
    w->down = false;
    pe_info("signer.recovered", "signer=pkcs11 key_id=%s token=\"%s\" next_counter=%lld",
            w->pub.key_id, w->token, (long long)w->next);
    return PE_OK;
}

static int p11_describe(const struct pe_signer *s, char *out, size_t outlen)
{
    const struct pkcs11 *w = cp11(s);
    bool sens = false, ext = true, never = false, local = false;
    bool got = !w->down && flag(w, w->priv, CKA_SENSITIVE, &sens) &&
               flag(w, w->priv, CKA_EXTRACTABLE, &ext) &&
               flag(w, w->priv, CKA_NEVER_EXTRACTABLE, &never) &&
               flag(w, w->priv, CKA_LOCAL, &local);
    snprintf(out, outlen, "key \"%s\" on token \"%s\" (%s) in %s: %s%s%s%s", w->key_label,
             w->token, w->desc, w->module, got ? "" : "attributes unreadable",
             got ? (sens ? "sensitive" : "NOT sensitive") : "",
             got ? (ext ? ", EXTRACTABLE" : never ? ", never extractable" : ", not extractable")
                 : "",
             got ? (local ? ", made on the token" : ", imported") : "");
    return PE_OK;
}

const struct pe_signer_ops pe_signer_pkcs11 = {
    .name = "pkcs11",
    .open = p11_open,
    .close = p11_close,
    .key = p11_key,
    .counter = p11_counter,
    .resume = p11_resume,
    .sign = p11_sign,
    .sign_receipt = p11_sign_receipt,
    .recover = p11_recover,
    .describe = p11_describe,
};

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_devices.c - the device model shared by every class (hal.h: the class list, the common
 * ops prefix, the registry) and the agent's one loop over the classes (agent/devices.c): every
 * built-in driver is registered under its own class with the ops its class makes mandatory,
 * and the agent opens, routes input from, reports and closes any set of devices without a
 * per-class copy. The parts that need devices run on the fakes, when the board builds them.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"
#ifdef PE_HAL_fake
#include "hal/fake/fake.h"
#endif

static void t_classes(void)
{
    static const char *const names[] = {"scanner", "scale",   "printer",
                                        "payment", "display", "keypad"};
    static const bool input[] = {true, true, false, true, false, true};
    CHECK_INT(PE_DEV__COUNT, 6);
    struct agent_cfg c;
    CHECK_OK(pe_cfg_defaults(agent_cfg_table, &c));
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        CHECK_STR(pe_dev_classes[i].name, names[i]);
        CHECK(pe_dev_classes[i].label && pe_dev_classes[i].label[0]);
        CHECK_INT(pe_dev_classes[i].input, input[i]);
        /* The configuration keys follow the list: devices.<class>.* lands in dev[class]. */
        char key[64], err[256];
        snprintf(key, sizeof key, "devices.%s.path", names[i]);
        CHECK_OK(pe_cfg_set(agent_cfg_table, &c, key, names[i], err, sizeof err));
        CHECK_STR(c.dev[i].path, names[i]);
        CHECK_STR(c.dev[i].driver, "fake");
    }
    CHECK_STR(pe_dev_classes[PE_DEV_PRINTER].label, "Printer");
}

/* Every name in pe_hal_driver_names serves some class, and every driver found is of the class
 * it was looked up for, with the ops the class makes mandatory. */
static void t_registry(void)
{
    char names[256];
    snprintf(names, sizeof names, "%s", pe_hal_driver_names());
    int found = 0;
    for (char *save = NULL, *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
        int classes = 0;
        for (int i = 0; i < PE_DEV__COUNT; i++) {
            const struct pe_device_ops *ops = pe_hal_driver((enum pe_dev_class)i, n);
            if (!ops)
                continue;
            classes++;
            CHECK_INT(ops->cls, i);
            CHECK_STR(ops->name, n);
            CHECK(ops->open && ops->close);
            if (pe_dev_classes[i].input)
                CHECK(ops->fd);
        }
        if (classes == 0)
            pe_test_fail(__FILE__, __LINE__, "driver name %s serves no class", n);
        found++;
    }
    CHECK(strstr(pe_hal_driver_names(), "  ") == NULL);
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        CHECK(pe_hal_driver((enum pe_dev_class)i, NULL) == NULL);
        CHECK(pe_hal_driver((enum pe_dev_class)i, "nosuch") == NULL);
    }
    CHECK(found >= 1 || !pe_hal_driver_names()[0]);
#ifdef PE_HAL_fake
    /* The typed lookups are the generic one, typed. */
    CHECK((const void *)pe_hal_keypad_driver("fake") ==
          (const void *)pe_hal_driver(PE_DEV_KEYPAD, "fake"));
    CHECK(&pe_hal_printer_driver("fake")->dev == pe_hal_driver(PE_DEV_PRINTER, "fake"));
#endif
}

#ifdef PE_HAL_fake

static struct agent A;

static void setup(void)
{
    memset(&A, 0, sizeof A);
    CHECK_OK(pe_cfg_defaults(agent_cfg_table, &A.cfg));
    snprintf(A.cfg.data_dir, sizeof A.cfg.data_dir, "%s", pe_test_tmpdir());
    CHECK_OK(pe_loop_create(&A.loop));
}

static void teardown(void)
{
    till_destroy(A.till);
    devices_close(&A);
    pe_loop_destroy(A.loop);
    pe_rng_destroy(A.rng);
    pe_journal_close(A.journal);
    pe_catalog_destroy(A.catalog);
}

static void t_check(void)
{
    setup();
    char err[256];
    CHECK_OK(devices_check(&A.cfg, err, sizeof err));
    snprintf(A.cfg.dev[PE_DEV_SCALE].driver, sizeof A.cfg.dev[0].driver, "nope");
    CHECK_INT(devices_check(&A.cfg, err, sizeof err), PE_EINVAL);
    if (!strstr(err, "devices.scale.driver: no driver \"nope\" (built in: fake"))
        pe_test_fail(__FILE__, __LINE__, "err: %s", err);
    teardown();
}

static const char *status_of(const cJSON *doc, const char *cls)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, cls);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "status");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void t_open_report_close(void)
{
    setup();
    CHECK_INT(devices_open(&A), 0);
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        CHECK(A.dev[i] != NULL);
        CHECK_INT(pe_device_class(A.dev[i]), i);
        if (pe_dev_classes[i].input)
            CHECK(pe_device_fd(A.dev[i]) >= 0);
    }
    CHECK(pe_scale_of(A.dev[PE_DEV_SCALE]) != NULL);
    CHECK(pe_scale_of(A.dev[PE_DEV_SCANNER]) == NULL); /* a class handle only of its class */
    CHECK(pe_scale_dev(pe_scale_of(A.dev[PE_DEV_SCALE])) == A.dev[PE_DEV_SCALE]);

    /* The state document: every class, in order, with its driver and health. */
    cJSON *doc = cJSON_CreateObject();
    devices_fleet(&A, doc);
    const cJSON *d = doc->child;
    for (int i = 0; i < PE_DEV__COUNT; i++, d = d->next) {
        CHECK(d != NULL);
        CHECK_STR(d->string, pe_dev_classes[i].name);
        CHECK_STR(cJSON_GetObjectItemCaseSensitive(d, "driver")->valuestring, "fake");
        CHECK_STR(status_of(doc, pe_dev_classes[i].name), "ok");
    }
    CHECK(d == NULL);
    cJSON_Delete(doc);
    CHECK_OK(pe_fake_printer_set_fail(pe_printer_of(A.dev[PE_DEV_PRINTER]), true));
    doc = cJSON_CreateObject();
    devices_fleet(&A, doc);
    CHECK_STR(status_of(doc, "printer"), "failed");
    CHECK_STR(status_of(doc, "scanner"), "ok");
    cJSON_Delete(doc);

    devices_close(&A);
    for (int i = 0; i < PE_DEV__COUNT; i++)
        CHECK(A.dev[i] == NULL);
    devices_close(&A); /* twice is harmless */
    teardown();
}

/* A device that cannot be opened stops the loop there; what was opened is closed by
 * devices_close (the sanitizer build would report a leak otherwise). */
static void t_open_fails_midway(void)
{
    setup();
    snprintf(A.cfg.data_dir, sizeof A.cfg.data_dir, "%s", "/nonexistent-dir/x");
    CHECK_INT(devices_open(&A), 1); /* the fake printer cannot write its receipts there */
    CHECK(A.dev[PE_DEV_SCANNER] && A.dev[PE_DEV_SCALE]);
    CHECK(A.dev[PE_DEV_PRINTER] == NULL && A.dev[PE_DEV_KEYPAD] == NULL);
    teardown();
}

/* Input reaches the till through the class's row of the table, by way of the loop. */
static void t_input_routed(void)
{
    char err[512], path[512];
    setup();
    snprintf(path, sizeof path, "%s/boards/sim/catalog.json", pe_test_srcdir());
    if (pe_catalog_load(path, &A.catalog, err, sizeof err))
        pe_test_fail(__FILE__, __LINE__, "catalog: %s", err);
    struct pe_journal_opts jo = {.store = "s001", .terminal = "t01", .check = true};
    if (pe_journal_open(pe_test_path(0, "journal.db"), &jo, &A.journal, err, sizeof err))
        pe_test_fail(__FILE__, __LINE__, "journal: %s", err);
    CHECK_OK(pe_rng_create("test", &A.rng));
    CHECK_INT(devices_open(&A), 0);
    struct till_deps deps = {
        .journal = A.journal,
        .catalog = A.catalog,
        .rng = A.rng,
        .printer = pe_printer_of(A.dev[PE_DEV_PRINTER]),
        .display = pe_display_of(A.dev[PE_DEV_DISPLAY]),
        .payment = pe_payment_of(A.dev[PE_DEV_PAYMENT]),
        .store = "s001",
        .terminal = "t01",
        .currency = "EUR",
        .title = "test",
    };
    CHECK_OK(till_create(&deps, &A.till));

    CHECK_OK(pe_fake_scale_push(pe_scale_of(A.dev[PE_DEV_SCALE]), 512, true));
    CHECK_OK(pe_loop_run_once(A.loop, 1000));
    CHECK_STR(till_display_line1(A.till), "Scale");

    struct pe_key_input k = {.kind = PE_KEY_LOGIN, .text = "op07"};
    CHECK_OK(pe_fake_keypad_push(pe_keypad_of(A.dev[PE_DEV_KEYPAD]), &k));
    CHECK_OK(pe_loop_run_once(A.loop, 1000));
    CHECK_STR(till_display_line1(A.till), "Logged in");
    CHECK_INT(pe_fake_keypad_queued(pe_keypad_of(A.dev[PE_DEV_KEYPAD])), 0);
    teardown();
}

#endif

static const struct pe_test tests[] = {
    {"classes", t_classes},
    {"registry", t_registry},
#ifdef PE_HAL_fake
    {"check", t_check},
    {"open_report_close", t_open_report_close},
    {"open_fails_midway", t_open_fails_midway},
    {"input_routed", t_input_routed},
#endif
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("devices", tests, argc, argv);
}

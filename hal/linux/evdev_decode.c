/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evdev_decode.c - key events of a keyboard-wedge scanner to barcodes (see evdev_decode.h).
 *
 * The US layout is one table indexed by key code, each entry the unshifted and the shifted
 * character. Keypad keys give the same character either way: scanners type digits on the keypad
 * with Num Lock assumed on. Invariant: len <= maxlen < PE_SCAN_MAX, so the code always fits with
 * its NUL; a character beyond maxlen turns the code overlong instead of growing it.
 */
#include "hal/linux/evdev_decode.h"

#include <linux/input-event-codes.h>
#include <string.h>

static const char us[KEY_KPSLASH + 1][2] = {
    [KEY_1] = {'1', '!'},          [KEY_2] = {'2', '@'},           [KEY_3] = {'3', '#'},
    [KEY_4] = {'4', '$'},          [KEY_5] = {'5', '%'},           [KEY_6] = {'6', '^'},
    [KEY_7] = {'7', '&'},          [KEY_8] = {'8', '*'},           [KEY_9] = {'9', '('},
    [KEY_0] = {'0', ')'},          [KEY_MINUS] = {'-', '_'},       [KEY_EQUAL] = {'=', '+'},
    [KEY_Q] = {'q', 'Q'},          [KEY_W] = {'w', 'W'},           [KEY_E] = {'e', 'E'},
    [KEY_R] = {'r', 'R'},          [KEY_T] = {'t', 'T'},           [KEY_Y] = {'y', 'Y'},
    [KEY_U] = {'u', 'U'},          [KEY_I] = {'i', 'I'},           [KEY_O] = {'o', 'O'},
    [KEY_P] = {'p', 'P'},          [KEY_LEFTBRACE] = {'[', '{'},   [KEY_RIGHTBRACE] = {']', '}'},
    [KEY_A] = {'a', 'A'},          [KEY_S] = {'s', 'S'},           [KEY_D] = {'d', 'D'},
    [KEY_F] = {'f', 'F'},          [KEY_G] = {'g', 'G'},           [KEY_H] = {'h', 'H'},
    [KEY_J] = {'j', 'J'},          [KEY_K] = {'k', 'K'},           [KEY_L] = {'l', 'L'},
    [KEY_SEMICOLON] = {';', ':'},  [KEY_APOSTROPHE] = {'\'', '"'}, [KEY_GRAVE] = {'`', '~'},
    [KEY_BACKSLASH] = {'\\', '|'}, [KEY_Z] = {'z', 'Z'},           [KEY_X] = {'x', 'X'},
    [KEY_C] = {'c', 'C'},          [KEY_V] = {'v', 'V'},           [KEY_B] = {'b', 'B'},
    [KEY_N] = {'n', 'N'},          [KEY_M] = {'m', 'M'},           [KEY_COMMA] = {',', '<'},
    [KEY_DOT] = {'.', '>'},        [KEY_SLASH] = {'/', '?'},       [KEY_SPACE] = {' ', ' '},
    [KEY_KPASTERISK] = {'*', '*'}, [KEY_KPMINUS] = {'-', '-'},     [KEY_KPPLUS] = {'+', '+'},
    [KEY_KPDOT] = {'.', '.'},      [KEY_KPSLASH] = {'/', '/'},     [KEY_KP0] = {'0', '0'},
    [KEY_KP1] = {'1', '1'},        [KEY_KP2] = {'2', '2'},         [KEY_KP3] = {'3', '3'},
    [KEY_KP4] = {'4', '4'},        [KEY_KP5] = {'5', '5'},         [KEY_KP6] = {'6', '6'},
    [KEY_KP7] = {'7', '7'},        [KEY_KP8] = {'8', '8'},         [KEY_KP9] = {'9', '9'},
};

void lx_evdev_init(struct lx_evdev *d, size_t maxlen)
{
    memset(d, 0, sizeof *d);
    d->maxlen = maxlen >= 1 && maxlen < PE_SCAN_MAX ? maxlen : PE_SCAN_MAX - 1;
}

char lx_evdev_char(uint16_t code, bool shift)
{
    return code < sizeof us / sizeof us[0] ? us[code][shift ? 1 : 0] : 0;
}

bool lx_evdev_pending(const struct lx_evdev *d)
{
    return d->len > 0 || d->overlong;
}

void lx_evdev_drop(struct lx_evdev *d)
{
    d->len = 0;
    d->overlong = false;
}

enum lx_evdev_result lx_evdev_feed(struct lx_evdev *d, uint16_t type, uint16_t code, int32_t value,
                                   struct pe_scan *out)
{
    if (type == EV_SYN && code == SYN_DROPPED) {
        lx_evdev_drop(d);
        d->lshift = d->rshift = false;
        d->resync = true;
        return LX_EVDEV_NONE;
    }
    if (d->resync) {
        d->resync = !(type == EV_SYN && code == SYN_REPORT);
        return LX_EVDEV_NONE;
    }
    if (type != EV_KEY)
        return LX_EVDEV_NONE;
    if (code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT) {
        bool *held = code == KEY_LEFTSHIFT ? &d->lshift : &d->rshift;
        if (value == 0 || value == 1) /* a repeat (2) changes nothing */
            *held = value == 1;
        return LX_EVDEV_NONE;
    }
    if (value != 1 && value != 2)
        return LX_EVDEV_NONE;
    if (code == KEY_ENTER || code == KEY_KPENTER) {
        if (d->overlong) {
            lx_evdev_drop(d);
            return LX_EVDEV_OVERLONG;
        }
        if (d->len == 0)
            return LX_EVDEV_NONE;
        if (out) {
            memcpy(out->code, d->code, d->len);
            out->code[d->len] = '\0';
        }
        lx_evdev_drop(d);
        return LX_EVDEV_CODE;
    }
    char c = lx_evdev_char(code, d->lshift || d->rshift);
    if (!c || d->overlong)
        return LX_EVDEV_NONE;
    if (d->len >= d->maxlen) {
        d->overlong = true;
        d->len = 0;
        return LX_EVDEV_NONE;
    }
    d->code[d->len++] = c;
    return LX_EVDEV_NONE;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * receipt.h - the receipt paper: the one contract between the renderer (store/render.c, which
 * lays out every printed document) and the receipt printer drivers (hal/, which print and cut
 * it). Both sides of the layer order read it from here, common, so neither reaches into the
 * other.
 */
#ifndef POSEDGE_RECEIPT_H
#define POSEDGE_RECEIPT_H

/* Columns of a printed line: every document is laid out to this width, and a driver's cut
 * rule spans it. */
#define PE_RECEIPT_COLS 42

/* Bytes of a receipt's QR code payload (docs/protocol.md, "Receipt QR code"), with its NUL:
 * printable ASCII, one line. The renderer (pe_render_qr, report.h) never makes a longer one,
 * and a printer driver refuses one (PE_EINVAL). */
#define PE_RECEIPT_QR_MAX 512

#endif

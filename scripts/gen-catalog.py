#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# gen-catalog.py - writes boards/sim/catalog.json, the item catalog of the simulated shop.
#
# The output is deterministic: the same script always writes the same bytes (no clock, no
# random module; every "random" choice is a SHA-256 of a fixed label), so the committed file
# can be checked with --check. Brands are invented. Barcodes are EAN-13 in the GS1
# restricted-circulation ("in-store") range 20-28 with a computed check digit; prefix 29 is left
# free because the shopper simulator scans 299... codes as "unknown item" mistakes. Prices are
# integer cents, per unit, or per kilogram for weighed produce.
#
# With --csv it writes instead a CSV file for `posedge-ctl catalog publish` (make bench): the
# rows of one store's items, each with one price in force from the epoch on; the sim catalog's
# items, or with --items N that many invented ones (SKU-B000001.., in-store barcodes 28...,
# categories and prices drawn as above). --change FIRST:COUNT:BUMP keeps only COUNT items from
# the FIRST (numbered from 1) and raises their prices by BUMP cents: a price change.
#
# usage: scripts/gen-catalog.py [--check] [OUTPUT]   (OUTPUT defaults to boards/sim/catalog.json)
#        scripts/gen-catalog.py --csv --store S [--items N] [--change FIRST:COUNT:BUMP] OUTPUT

import csv
import hashlib
import io
import json
import os
import sys

CURRENCY = "EUR"
NAME_MAX = 32  # longest item name, so that a receipt line keeps room for the amount

# category: (barcode prefix, item count, tax_bp, brands with price factor, products)
# A product is (name, base price in cents, tax_bp override or None, weighed).
CATEGORIES = [
    ("Skincare", "21", 36, 2000,
     [("Aveline", 1.0), ("Dermaflor", 1.3), ("Nordlys", 0.8), ("Solenne", 1.8)],
     [("Day Cream 50ml", 1499), ("Night Cream 50ml", 1699), ("Foam Cleanser 150ml", 899),
      ("Vitamin C Serum 30ml", 2299), ("Micellar Water 400ml", 799), ("Toner 200ml", 999),
      ("Eye Gel 15ml", 1599), ("Sun Fluid SPF50 50ml", 1899), ("Clay Mask 75ml", 1199),
      ("Lip Balm 4g", 399), ("Hand Cream 75ml", 599), ("Face Scrub 100ml", 1099)]),
    ("Makeup", "22", 34, 2000,
     [("Coralie", 1.0), ("Vesper", 1.5), ("Mirelle", 0.7), ("Atelier Nox", 2.0)],
     [("Mascara Black", 1299), ("Liquid Foundation", 1899), ("Concealer", 1099),
      ("Lipstick Rouge", 1399), ("Lip Gloss Clear", 899), ("Eyeliner Pencil", 699),
      ("Eyeshadow Palette", 2499), ("Blush Peach", 1199), ("Setting Powder", 1499),
      ("Brow Gel", 899), ("Nail Polish Red", 599), ("Makeup Remover 125ml", 799)]),
    ("Hair Care", "23", 28, 2000,
     [("Capella", 1.0), ("Silkroot", 1.4), ("Brisa", 0.75), ("Maison Crin", 1.9)],
     [("Shampoo 250ml", 599), ("Conditioner 250ml", 649), ("Hair Mask 200ml", 1099),
      ("Dry Shampoo 200ml", 699), ("Hair Oil 100ml", 1399), ("Styling Gel 150ml", 549),
      ("Hairspray 300ml", 649), ("Leave-in Spray 150ml", 899), ("Curl Cream 200ml", 999)]),
    ("Bath & Body", "24", 28, 2000,
     [("Oleana", 1.0), ("Bainbleu", 1.3), ("Pumice & Co", 0.8), ("Hammam Rose", 1.6)],
     [("Shower Gel 250ml", 399), ("Body Lotion 400ml", 899), ("Bath Salts 500g", 799),
      ("Body Scrub 200ml", 1099), ("Bar Soap 100g", 299), ("Bubble Bath 500ml", 599),
      ("Deodorant 150ml", 449), ("Body Oil 100ml", 1299), ("Foot Cream 75ml", 699)]),
    ("Fragrance", "25", 20, 2000,
     [("Ilexa", 1.0), ("Orrisa", 1.4), ("Velours", 0.6), ("Ambrine", 1.9)],
     [("Eau de Parfum 50ml", 4999), ("Eau de Toilette 100ml", 3999),
      ("Body Mist 150ml", 1299), ("Eau de Parfum 30ml", 3499), ("Solid Perfume 10g", 1899),
      ("Cologne 100ml", 2999)]),
    ("Snacks", "26", 30, 550,
     [("Crunchwell", 1.0), ("Golden Acre", 1.2), ("Munchery", 0.85)],
     [("Sea Salt Crisps 150g", 219), ("Paprika Crisps 150g", 229), ("Salted Peanuts 200g", 249),
      ("Dark Chocolate 100g", 199), ("Milk Chocolate 100g", 179), ("Oat Cookies 200g", 259),
      ("Granola Bar 4x35g", 299), ("Pretzels 175g", 189), ("Trail Mix 200g", 399),
      ("Rice Cakes 130g", 159), ("Gummy Bears 200g", 169), ("Butter Biscuits 150g", 209)]),
    ("Beverages", "27", 26, 550,
     [("Fontclaire", 1.0), ("Citrella", 1.15), ("Bruma", 0.9)],
     [("Still Water 1.5l", 79), ("Sparkling Water 1l", 89), ("Orange Juice 1l", 249),
      ("Apple Juice 1l", 229), ("Iced Tea Peach 1.5l", 199), ("Cola 1.5l", 189),
      ("Lemonade 1l", 169), ("Energy Drink 250ml", 149), ("Cold Brew 250ml", 299),
      ("Oat Drink 1l", 219)]),
]

# Beverages with added sugar or caffeine carry the intermediate rate.
INTERMEDIATE = {"Iced Tea Peach 1.5l", "Cola 1.5l", "Lemonade 1l", "Energy Drink 250ml",
                "Cold Brew 250ml"}

PRODUCE_BRANDS = ["Green Valley", "Sunfield Farm", "Orchard Lane", "Terre Douce"]
# (name, price per kg in cents) for weighed produce
PRODUCE_WEIGHED = [
    ("Bananas", 199), ("Gala Apples", 279), ("Granny Smith Apples", 299), ("Conference Pears", 329),
    ("Vine Tomatoes", 399), ("Cherry Tomatoes", 699), ("Carrots", 149), ("Potatoes", 129),
    ("Sweet Potatoes", 349), ("Red Onions", 229), ("Yellow Onions", 179), ("Garlic", 899),
    ("Ginger Root", 799), ("Lemons", 349), ("Limes", 499), ("Oranges", 249),
    ("Clementines", 329), ("Red Grapes", 549), ("White Grapes", 529), ("Kiwis", 449),
    ("Peaches", 429), ("Nectarines", 449), ("Plums", 399), ("Courgettes", 279),
    ("Aubergines", 349), ("Red Peppers", 499), ("Green Peppers", 399), ("Mushrooms", 699),
    ("Leeks", 289), ("Beetroot", 229),
]
# (name, unit price in cents) for produce sold by the piece
PRODUCE_COUNTED = [("Cucumber", 79), ("Iceberg Lettuce", 119), ("Pineapple", 249),
                   ("Basil Pot", 199)]


def h(label):
    """A deterministic 256-bit integer for a label."""
    return int.from_bytes(hashlib.sha256(label.encode("utf-8")).digest(), "big")


def ean13_check(first12):
    """The EAN-13 check digit of 12 digits: weights 1,3,1,3... from the left."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return (10 - total % 10) % 10


def shelf_price(cents):
    """Round to a shelf price ending in 9 cents (x.09, x.19, ... x.99), at least 0.49."""
    cents = max(int(round(cents)), 49)
    return cents - cents % 10 + 9


def build():
    items = []
    barcodes = set()

    def add(category, prefix, name, brand, price, tax_bp, weighed):
        sku = "SKU-%05d" % (len(items) + 1)
        assert len(name) <= NAME_MAX, name
        salt = 0
        while True:
            body = prefix + "%010d" % (h("barcode/%s/%d" % (sku, salt)) % 10**10)
            code = body + str(ean13_check(body))
            if code not in barcodes:
                break
            salt += 1
        barcodes.add(code)
        items.append({"id": sku, "barcode": code, "name": name, "category": category,
                      "brand": brand, "price": price, "tax_bp": tax_bp, "weighed": weighed})

    for category, prefix, count, tax_bp, brands, products in CATEGORIES:
        combos = [(b, p) for b in brands for p in products]
        combos.sort(key=lambda bp: h("pick/%s/%s/%s" % (category, bp[0][0], bp[1][0])))
        chosen = combos[:count]
        # Keep a readable order in the file: by product, then by brand.
        chosen.sort(key=lambda bp: (products.index(bp[1]), brands.index(bp[0])))
        for (brand, factor), (pname, base) in chosen:
            name = "%s %s" % (brand, pname)
            if len(name) > NAME_MAX:
                name = pname
            tax = 1000 if pname in INTERMEDIATE else tax_bp
            add(category, prefix, name, brand, shelf_price(base * factor), tax, False)

    for i, (pname, per_kg) in enumerate(PRODUCE_WEIGHED):
        brand = PRODUCE_BRANDS[h("produce/" + pname) % len(PRODUCE_BRANDS)]
        add("Produce", "20", pname, brand, per_kg, 550, True)
    for pname, each in PRODUCE_COUNTED:
        brand = PRODUCE_BRANDS[h("produce/" + pname) % len(PRODUCE_BRANDS)]
        add("Produce", "20", pname, brand, each, 550, False)
    return items


def render(items):
    out = ['{\n  "currency": "%s",\n  "items": [\n' % CURRENCY]
    for i, it in enumerate(items):
        sep = ",\n" if i + 1 < len(items) else "\n"
        out.append("    " + json.dumps(it, ensure_ascii=True) + sep)
    out.append("  ]\n}\n")
    return "".join(out)


def invented(n):
    """n invented items for benchmarks, in the sim catalog's form: ids SKU-B000001.., barcodes
    28 followed by the number (unique, with their check digit), a category and a price drawn
    from the categories above."""
    out = []
    for i in range(1, n + 1):
        category, _, _, tax_bp, brands, products = CATEGORIES[h("bench/c/%d" % i) % len(CATEGORIES)]
        brand, factor = brands[h("bench/b/%d" % i) % len(brands)]
        pname, base = products[h("bench/p/%d" % i) % len(products)]
        body = "28%010d" % i
        out.append({"id": "SKU-B%06d" % i, "barcode": body + str(ean13_check(body)),
                    "name": ("%s %s" % (brand, pname))[:NAME_MAX], "category": category,
                    "brand": brand, "price": shelf_price(base * factor), "tax_bp": tax_bp,
                    "weighed": False})
    return out


def render_csv(items, store):
    """The items as posedge-ctl catalog publish's CSV: one row each, its price from the epoch."""
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["store", "id", "barcodes", "name", "category", "brand", "tax_bp", "weighed",
                "currency", "price", "effective_from", "effective_to"])
    for it in items:
        w.writerow([store, it["id"], it["barcode"], it["name"], it["category"], it["brand"],
                    it["tax_bp"], "true" if it["weighed"] else "false", CURRENCY, it["price"],
                    "1970-01-01T00:00:00.000Z", ""])
    return f.getvalue()


def main_csv(args):
    opts = {"--store": None, "--items": None, "--change": None}
    rest = []
    while args:
        a = args.pop(0)
        if a in opts and args:
            opts[a] = args.pop(0)
        else:
            rest.append(a)
    if not opts["--store"] or len(rest) != 1:
        print("usage: gen-catalog.py --csv --store S [--items N] [--change FIRST:COUNT:BUMP] "
              "OUTPUT", file=sys.stderr)
        return 2
    items = invented(int(opts["--items"])) if opts["--items"] else build()
    if opts["--change"]:
        first, count, bump = (int(x) for x in opts["--change"].split(":"))
        items = [dict(it, price=it["price"] + bump) for it in items[first - 1:first - 1 + count]]
    with open(rest[0], "w", encoding="utf-8") as f:
        f.write(render_csv(items, opts["--store"]))
    return 0


def main(argv):
    if "--csv" in argv:
        return main_csv([a for a in argv if a != "--csv"])
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = args[0] if args else os.path.join(top, "boards", "sim", "catalog.json")
    text = render(build())
    if check:
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            print("%s: not what scripts/gen-catalog.py generates" % path, file=sys.stderr)
            return 1
        return 0
    tmp = path + ".new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

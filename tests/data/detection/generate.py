#!/usr/bin/env python3
"""Regenerate the detection test-vector TSV files in this folder.

Every row comes from a public source, parsed by this script, or is produced
by the source library itself (phonenumbers, python-stdnum).  The only rows
made up here are those of hard_negatives.tsv, generated deterministically
from a seeded RNG and re-validated with python-stdnum.

Inputs
------
* PyPI packages (pinned below), installed into a temporary --target dir:
  phonenumbers, python-stdnum, email-validator; plus the python-stdnum sdist
  (its tests/*.doctest files are not in the wheel).
* Files of public GitHub repositories at pinned commits (GITHUB_FILES below).
  They are looked up, in this order, in:
    1. $DETECTION_SOURCES/<owner>+<name>/<path>   (a cache dir you filled)
    2. a bare git mirror $DETECTION_MIRRORS/<owner>+<name>/repo
       (read with `git show <commit>:<path>`)
    3. https://raw.githubusercontent.com/<owner>/<name>/<commit>/<path>

Usage
-----
    python3 tests/data/detection/generate.py            # writes next to itself
    python3 tests/data/detection/generate.py --out DIR  # writes into DIR
"""

import argparse
import ast
import doctest
import glob
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import uuid as uuidlib

PYPI = {
    "python-stdnum": "2.2",
    "phonenumbers": "9.0.43",
    "email-validator": "2.4.0",
}

GITHUB = {
    "JoshData/python-email-validator": "b73d010bb3db70547199f39fd85d2286a7f6f476",
    "microsoft/presidio": "0aa9f8e44275cb52c00fbbebe19168e934e1f076",
    "globalcitizen/php-iban": "c92138cb9ef9a25941c6466915b3bf23898de6a1",
    "Adyen/adyen-ios": "63a57d3307b2b0a70c7f7a8e90cdece2df707559",
    "Adyen/adyen-web": "183fa6f8bf6ce5a9df53067a4be2b8e168893da8",
}

LICENSES = {
    "JoshData/python-email-validator": "Unlicense (public domain)",
    "microsoft/presidio": "MIT",
    "globalcitizen/php-iban": "LGPL-3.0",
    "Adyen/adyen-ios": "MIT",
    "Adyen/adyen-web": "MIT",
}

SEED = 20260314

# --------------------------------------------------------------------------
# environment


def setup_packages(work):
    target = os.path.join(work, "lib")
    sdist = os.path.join(work, "sdist")
    pins = ["%s==%s" % kv for kv in PYPI.items()]
    if not os.path.isdir(target):
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                               "--disable-pip-version-check", "--target", target] + pins)
    if not glob.glob(os.path.join(sdist, "python_stdnum-%s" % PYPI["python-stdnum"], "tests")):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q",
                               "--disable-pip-version-check", "--no-deps",
                               "--no-binary", ":all:", "-d", sdist,
                               "python-stdnum==" + PYPI["python-stdnum"]])
        for f in glob.glob(os.path.join(sdist, "*.tar.gz")):
            with tarfile.open(f) as t:
                t.extractall(sdist)
    sys.path.insert(0, target)
    return [d for d in glob.glob(os.path.join(sdist, "python_stdnum-*")) if os.path.isdir(d)][0]


def github_file(repo, path):
    commit = GITHUB[repo]
    key = repo.replace("/", "+")
    cache = os.environ.get("DETECTION_SOURCES")
    if cache:
        p = os.path.join(cache, key, path)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return f.read()
    mirrors = os.environ.get("DETECTION_MIRRORS", "/work/.mirror")
    gitdir = os.path.join(mirrors, key, "repo")
    if os.path.isdir(gitdir):
        try:
            return subprocess.check_output(
                ["git", "-C", gitdir, "show", "%s:%s" % (commit, path)],
                stderr=subprocess.DEVNULL).decode("utf-8")
        except subprocess.CalledProcessError:
            pass
    url = "https://raw.githubusercontent.com/%s/%s/%s" % (repo, commit, path)
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode("utf-8")


# --------------------------------------------------------------------------
# output


class Table:
    def __init__(self, name, header):
        self.name = name
        self.header = header
        self.rows = []
        self.seen = set()

    def add(self, kind, value, note):
        value = value.strip(" ")
        if not value or "\t" in value or "\n" in value or "\r" in value:
            return False
        if any(ch in value for ch in "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"):
            return False
        note = re.sub(r"\s+", " ", note).strip()
        # first note wins; one row per (kind, value), per region for phone-number tables
        m = re.search(r"region=(\S+)", note)
        key = (kind, value, m.group(1) if m else None)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.rows.append((kind, value, note))
        return True

    def write(self, outdir):
        path = os.path.join(outdir, self.name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for h in self.header:
                f.write("# " + h + "\n")
            f.write("# columns: kind<TAB>value<TAB>note\n")
            for k, v, n in self.rows:
                f.write("%s\t%s\t%s\n" % (k, v, n))

    def counts(self):
        c = {}
        for k, _, _ in self.rows:
            c[k] = c.get(k, 0) + 1
        return c


def gh_header(repo, files, what):
    return [
        what,
        "project: https://github.com/%s" % repo,
        "commit: %s" % GITHUB[repo],
        "files: %s" % ", ".join(files),
        "license: %s" % LICENSES[repo],
    ]


# --------------------------------------------------------------------------
# doctest extraction (python-stdnum)


def doctest_candidates(text):
    """Yield (value) string candidates from the examples of a doctest text."""
    parser = doctest.DocTestParser()
    for ex in parser.get_examples(text):
        strs = []
        try:
            tree = ast.parse(ex.source)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strs.append(node.value)
        except SyntaxError:
            pass
        want = ex.want.strip()
        if want:
            try:
                w = ast.literal_eval(want)
                if isinstance(w, str):
                    strs.append(w)
                elif isinstance(w, (list, tuple)):
                    strs.extend(x for x in w if isinstance(x, str))
            except Exception:
                pass
        for s in strs:
            for line in s.splitlines():
                # lines made of columns (e.g. 'BE 03 7310 1866 4084    KREDBEBB'): keep the first column
                line = re.split(r"\s{3,}", line.strip())[0]
                if len(re.sub(r"[^0-9A-Za-z]", "", line)) >= 6 and len(line) <= 60:
                    yield line


def reason(module, value, **kw):
    try:
        module.validate(value, **kw)
        return "valid"
    except Exception as e:  # stdnum.exceptions.ValidationError subclasses
        n = type(e).__name__
        return {
            "InvalidChecksum": "bad-check-digit",
            "InvalidLength": "bad-length",
            "InvalidFormat": "bad-format",
            "InvalidComponent": "bad-component",
        }.get(n, n)


def module_doc_path(stdnum_root, modname):
    return os.path.join(stdnum_root, *modname.split(".")) + ".py"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def build_stdnum(root):
    import stdnum
    from stdnum import iban
    from stdnum.br import cnpj, cpf

    t = Table("stdnum.tsv", [
        "source: python-stdnum %s (PyPI sdist python_stdnum-%s.tar.gz)" % (stdnum.__version__, PYPI["python-stdnum"]),
        "files: stdnum/br/cpf.py, stdnum/br/cnpj.py (module doctests), tests/test_br_cnpj.doctest,"
        " stdnum/iban.py, stdnum/*/iban.py (module doctests), tests/test_iban.doctest, tests/test_be_iban.doctest",
        "url: https://pypi.org/project/python-stdnum/ (https://github.com/arthurdejong/python-stdnum)",
        "license: LGPL-2.1-or-later",
        "kind tagged by running stdnum <module>.is_valid on the value; invalid -> none with the reason from validate()",
    ])
    sources = [
        ("cpf", cpf, "stdnum/br/cpf.py"),
        ("cnpj", cnpj, "stdnum/br/cnpj.py"),
        ("cnpj", cnpj, "tests/test_br_cnpj.doctest"),
        ("iban", iban, "stdnum/iban.py"),
    ]
    for p in sorted(glob.glob(os.path.join(root, "stdnum", "*", "iban.py"))):
        sources.append(("iban", iban, os.path.relpath(p, root)))
    sources += [("iban", iban, "tests/test_iban.doctest"),
                ("iban", iban, "tests/test_be_iban.doctest")]
    for kind, mod, rel in sources:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            continue
        text = read(path)
        if rel.endswith(".py"):
            text = ast.get_docstring(ast.parse(text)) or ""
        for v in doctest_candidates(text):
            if kind == "iban" and not re.match(r"^[A-Za-z]{2} ?[0-9xX]{2}", v):
                continue
            if kind != "iban" and not re.search(r"\d{2}", v):
                continue
            r = reason(mod, v)
            extra = ""
            if kind == "iban":
                extra = " country=%s" % v[:2].upper()
                if r != "valid":
                    try:
                        iban.validate(v, check_country=False)
                        extra += " mod97=ok"
                    except Exception:
                        pass
            if kind == "cnpj" and re.search(r"[A-Za-z]", mod.compact(v)[:12]):
                extra += " alphanumeric"
            if r == "valid":
                t.add(kind, v, "valid src=%s%s" % (rel, extra))
                c = mod.compact(v)
                if kind in ("cpf", "cnpj") and c != v:
                    t.add(kind, c, "valid compact-form src=%s%s" % (rel, extra))
            else:
                t.add("none", v, "%s imitates=%s src=%s%s" % (r, kind, rel, extra))
    return t


def build_national_ids(root):
    import stdnum
    from stdnum.in_ import pan, aadhaar
    from stdnum.id import nik
    from stdnum.pt import nif as ptnif
    from stdnum.de import idnr
    from stdnum.es import dni, nie
    from stdnum.mx import curp, rfc
    from stdnum.us import ssn

    t = Table("national_ids.tsv", [
        "source: python-stdnum %s (PyPI sdist python_stdnum-%s.tar.gz)" % (stdnum.__version__, PYPI["python-stdnum"]),
        "files: module doctests of stdnum/in_/pan.py, in_/aadhaar.py, id/nik.py, pt/nif.py, de/idnr.py,"
        " es/dni.py, es/nie.py, es/nif.py, mx/curp.py, mx/rfc.py, us/ssn.py; tests/test_in_pan.doctest,"
        " tests/test_de_idnr.doctest, tests/test_es_nif.doctest, tests/test_mx_curp.doctest, tests/test_mx_rfc.doctest",
        "url: https://pypi.org/project/python-stdnum/ (https://github.com/arthurdejong/python-stdnum)",
        "license: LGPL-2.1-or-later",
        "kind tagged by running the stdnum module's is_valid; dni covers Spanish DNI and NIE",
    ])

    class DniOrNie:
        @staticmethod
        def validate(v):
            if v[:1].isdigit():
                return dni.validate(v)
            return nie.validate(v)

        @staticmethod
        def is_valid(v):
            return dni.is_valid(v) or nie.is_valid(v)

    specs = [
        ("pan", pan, ["stdnum/in_/pan.py", "tests/test_in_pan.doctest"]),
        ("aadhaar", aadhaar, ["stdnum/in_/aadhaar.py"]),
        ("nik", nik, ["stdnum/id/nik.py"]),
        ("nif", ptnif, ["stdnum/pt/nif.py"]),
        ("steuer_id", idnr, ["stdnum/de/idnr.py", "tests/test_de_idnr.doctest"]),
        ("dni", DniOrNie, ["stdnum/es/dni.py", "stdnum/es/nie.py", "stdnum/es/nif.py", "tests/test_es_nif.doctest"]),
        ("curp", curp, ["stdnum/mx/curp.py", "tests/test_mx_curp.doctest"]),
        ("rfc", rfc, ["stdnum/mx/rfc.py", "tests/test_mx_rfc.doctest"]),
        ("ssn", ssn, ["stdnum/us/ssn.py"]),
    ]
    from stdnum.es import nif as esnif
    for kind, mod, rels in specs:
        for rel in rels:
            path = os.path.join(root, rel)
            if not os.path.exists(path):
                continue
            text = read(path)
            if rel.endswith(".py"):
                text = ast.get_docstring(ast.parse(text)) or ""
            for v in doctest_candidates(text):
                if not re.search(r"\d", v):
                    continue
                if kind == "dni" and not mod.is_valid(v) and esnif.is_valid(v):
                    continue  # a valid Spanish NIF of another type (CIF, K/L/M): not a DNI look-alike
                r = reason(mod, v)
                if r == "valid":
                    t.add(kind, v, "valid src=%s" % rel)
                else:
                    t.add("none", v, "%s imitates=%s src=%s" % (r, kind, rel))
    return t


# --------------------------------------------------------------------------
# phonenumbers

PERSONAL_TYPES = ["MOBILE", "FIXED_LINE", "FIXED_LINE_OR_MOBILE", "VOIP", "PERSONAL_NUMBER"]
BUSINESS_TYPES = ["TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "UAN", "PAGER", "VOICEMAIL"]


def build_phonenumbers():
    import phonenumbers as pn
    hdr = [
        "source: phonenumbers %s (PyPI; Python port of Google libphonenumber)" % pn.__version__,
        "files: values produced by phonenumbers.example_number_for_type(region, type) for every region in"
        " phonenumbers.SUPPORTED_REGIONS, written with phonenumbers.format_number as E164, INTERNATIONAL, NATIONAL"
        " (example data from libphonenumber resources/PhoneNumberMetadata.xml)",
        "url: https://pypi.org/project/phonenumbers/ (https://github.com/daviddrysdale/python-phonenumbers)",
        "license: Apache-2.0",
    ]
    personal = Table("phonenumbers.tsv", hdr + [
        "types: MOBILE, FIXED_LINE, FIXED_LINE_OR_MOBILE, VOIP, PERSONAL_NUMBER (one row per value; type= lists every type whose example it is)"])
    business = Table("phonenumbers_business.tsv", hdr + [
        "types: TOLL_FREE, PREMIUM_RATE, SHARED_COST, UAN, PAGER, VOICEMAIL -> kind none (business/service numbers; policy debatable)"])
    forms = [("e164", pn.PhoneNumberFormat.E164), ("international", pn.PhoneNumberFormat.INTERNATIONAL),
             ("national", pn.PhoneNumberFormat.NATIONAL)]

    def collect(types):
        acc = {}
        order = []
        for region in sorted(pn.SUPPORTED_REGIONS):
            for tn in types:
                num = pn.example_number_for_type(region, getattr(pn.PhoneNumberType, tn))
                if num is None:
                    continue
                valid = pn.is_valid_number(num)
                for fname, f in forms:
                    v = pn.format_number(num, f)
                    key = (v, region, fname)
                    if key not in acc:
                        acc[key] = [[], valid]
                        order.append(key)
                    if tn.lower() not in acc[key][0]:
                        acc[key][0].append(tn.lower())
        return order, acc

    order, acc = collect(PERSONAL_TYPES)
    for key in order:
        v, region, fname = key
        types, valid = acc[key]
        note = "region=%s form=%s type=%s" % (region, fname, "+".join(types))
        if not valid:
            note += " phonenumbers-is_valid=false"
        personal.add("phone", v, note)
    order, acc = collect(BUSINESS_TYPES)
    for key in order:
        v, region, fname = key
        types, valid = acc[key]
        business.add("none", v, "region=%s form=%s type=%s business-number" % (region, fname, "+".join(types)))
    return personal, business


# --------------------------------------------------------------------------
# python-email-validator


def parametrize_cases(tree):
    """Yield (function_name, argnames, [case tuples as AST nodes])."""
    assigns = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigns[node.targets[0].id] = node.value
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            names = dec.args[0]
            if isinstance(names, ast.Constant):
                argnames = [s.strip() for s in names.value.split(",")]
            else:
                argnames = [e.value for e in names.elts]
            cases = dec.args[1]
            if isinstance(cases, ast.Name):
                cases = assigns.get(cases.id)
            if cases is None:
                continue
            yield node.name, argnames, list(cases.elts)


def lit(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def build_email():
    from email_validator import validate_email, EmailNotValidError
    files = ["tests/test_syntax.py", "tests/test_main.py"]
    repo = "JoshData/python-email-validator"
    t = Table("email_validator.tsv", gh_header(repo, files, "source: python-email-validator test suite") + [
        "kind from the test function the case sits in; validator-* in the note is the verdict of email-validator %s"
        " (PyPI) with check_deliverability=False" % PYPI["email-validator"],
        "skipped: cases needing DNS, display-name inputs, values with CR/LF/line separators, surrogates or leading/trailing blanks",
    ])

    def verdict(v, **kw):
        try:
            validate_email(v, check_deliverability=False, **kw)
            return "validator-ok"
        except EmailNotValidError:
            return "validator-rejects"
        except Exception:
            return "validator-error"

    def bad_chars(v):
        return (v != v.strip() or any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 or 0xd800 <= ord(c) < 0xe000
                                      or c in "\u2028\u2029" for c in v))

    tree = ast.parse(github_file(repo, "tests/test_syntax.py"))
    for fn, argnames, cases in parametrize_cases(tree):
        for case in cases:
            elts = case.elts if isinstance(case, (ast.Tuple, ast.List)) else [case]
            first = lit(elts[0])
            if not isinstance(first, str):
                continue
            if fn == "test_email_valid":
                v = first
                note = "valid"
                if "<" in first:
                    # display-name input: take the expected normalized address from the test
                    call = elts[1]
                    kws = {k.arg: lit(k.value) for k in call.keywords}
                    v = kws.get("normalized")
                    note = "valid display-name-stripped"
                    if not isinstance(v, str):
                        continue
                if v.startswith('"'):
                    note += " quoted"
                if bad_chars(v):
                    continue
                t.add("email", v, "%s %s" % (note, verdict(v, allow_quoted_local=True)))
            elif fn == "test_email_valid_intl_local_part":
                v, note = first, "valid smtputf8 internationalized"
                if "<" in first:
                    kws = {k.arg: lit(k.value) for k in elts[1].keywords}
                    v, note = kws.get("normalized"), note + " display-name-stripped"
                    if not isinstance(v, str):
                        continue
                if bad_chars(v):
                    continue
                t.add("email", v, "%s %s" % (note, verdict(v)))
            elif fn == "test_email_valid_only_if_quoted_local_part":
                t.add("email", first, "valid quoted (needs allow_quoted_local) %s" % verdict(first, allow_quoted_local=True))
            elif fn == "test_email_invalid_syntax":
                if "<" in first:
                    continue  # display name + a valid address inside: not a clean negative
                if verdict(first, allow_domain_literal=True, allow_quoted_local=True) == "validator-ok":
                    t.add("email", first, "valid-with-options (allow_quoted_local/allow_domain_literal); listed invalid by default")
                    continue
                t.add("none", first, "invalid-syntax %s" % verdict(first))
            elif fn == "test_email_invalid_syntax_strict":
                t.add("email", first, "valid-non-strict local-part-over-64-chars (rejected with strict=True) %s" % verdict(first))
            elif fn == "test_email_invalid_reserved_domain":
                t.add("none", first, "special-use-domain syntax-ok (rejected by email-validator as reserved name) %s" % verdict(first))
            elif fn == "test_email_unsafe_character":
                s = first
                for v in (s + "@test", "test@" + s):
                    if bad_chars(v):
                        continue
                    cps = " ".join("U+%04X" % ord(c) for c in s if ord(c) > 0x7f)
                    t.add("none", v, "invalid-syntax unsafe-character %s %s" % (cps, verdict(v, test_environment=True)))
            elif fn == "test_pyisemail_tests":
                status = lit(elts[1])
                if bad_chars(first):
                    continue
                if status == "ISEMAIL_VALID":
                    t.add("email", first, "valid pyisemail=%s %s" % (status, verdict(first, test_environment=True)))
                elif verdict(first, test_environment=True) == "validator-ok":
                    t.add("email", first, "valid-non-strict pyisemail=%s validator-ok" % status)
                elif verdict(first, test_environment=True, allow_quoted_local=True,
                             allow_domain_literal=True) == "validator-ok":
                    t.add("email", first, "valid-with-options (allow_quoted_local/allow_domain_literal) pyisemail=%s" % status)
                else:
                    t.add("none", first, "invalid-syntax pyisemail=%s validator-rejects" % status)
    # test_domain_literal
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "test_domain_literal":
            for c in ast.walk(node):
                if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.startswith("me@["):
                    t.add("email", c.value, "valid domain-literal (needs allow_domain_literal) %s"
                          % verdict(c.value, allow_domain_literal=True))
    # test_main.py: string literals that look like addresses; skip the DNS-backed ones
    tree = ast.parse(github_file(repo, "tests/test_main.py"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        dns = "RESOLVER" in ast.unparse(node)
        for c in ast.walk(node):
            if isinstance(c, ast.Constant) and isinstance(c.value, str) and "@" in c.value and " " not in c.value \
                    and len(c.value) > 3 and not c.value.startswith("email_validator"):
                v = c.value
                vd = verdict(v, allow_domain_literal=True)
                if vd == "validator-ok":
                    if dns:
                        continue
                    t.add("email", v, "valid src=test_main.py %s" % vd)
                else:
                    t.add("none", v, "invalid-syntax src=test_main.py %s" % vd)
    return t


# --------------------------------------------------------------------------
# presidio

PRESIDIO_FILES = {
    "test_email_recognizer.py": ("email", None),
    "test_phone_recognizer.py": ("phone", ["US", "IL", "BR", "JP", "CN", "GB", "IN", "DE"]),
    "test_ph_mobile_number_recognizer.py": ("phone", ["PH"]),
    "test_tr_phone_number_recognizer.py": ("phone", ["TR"]),
    "test_credit_card_recognizer.py": ("card", None),
    "test_iban_recognizer.py": ("iban", None),
    "test_us_ssn_recognizer.py": ("ssn", None),
    "test_in_pan_recognizer.py": ("pan", None),
    "test_in_aadhaar_recognizer.py": ("aadhaar", None),
    "test_es_nif_recognizer.py": ("dni", None),
    "test_es_nie_recognizer.py": ("dni", None),
    "test_de_tax_id_recognizer.py": ("steuer_id", None),
}
CORE_KINDS = {"phone", "email", "cpf", "cnpj", "card", "iban"}


def phone_note(v, regions):
    import phonenumbers as pn
    digits = re.sub(r"\D", "", v)
    if re.fullmatch(r"\+\d+", v):
        form = "e164"
    elif v.startswith("+") or v.startswith("00"):
        form = "international"
    else:
        form = "national"
    cands = [None] if v.startswith("+") else regions
    for r in cands:
        try:
            num = pn.parse(v, r)
        except Exception:
            continue
        if pn.is_valid_number(num):
            return "region=%s form=%s phonenumbers-valid=yes" % (pn.region_code_for_number(num), form)
    # not valid anywhere: report the first region it parses in
    for r in cands:
        try:
            num = pn.parse(v, r)
            return "region=%s form=%s phonenumbers-valid=no" % (pn.region_code_for_number(num) or r, form)
        except Exception:
            continue
    return "region=%s form=%s phonenumbers-valid=no" % (regions[0] if regions else "ZZ", form)


def cross_check(kind, v):
    from stdnum import luhn, iban
    from stdnum.us import ssn
    from stdnum.in_ import pan, aadhaar
    from stdnum.es import dni, nie
    from stdnum.de import idnr
    c = re.sub(r"[\s.:-]", "", v)
    if kind == "card":
        return "luhn=%s" % ("ok" if c.isdigit() and luhn.is_valid(c) else "fail")
    if kind == "iban":
        return "stdnum-iban=%s" % ("valid" if iban.is_valid(v) else "invalid")
    m = {"ssn": [ssn], "pan": [pan], "aadhaar": [aadhaar], "dni": [dni, nie], "steuer_id": [idnr]}.get(kind)
    if m:
        return "stdnum=%s" % ("valid" if any(x.is_valid(v) for x in m) else "invalid")
    return ""


def build_presidio():
    repo = "microsoft/presidio"
    files = ["presidio-analyzer/tests/" + f for f in PRESIDIO_FILES]
    core = Table("presidio.tsv", gh_header(repo, files, "source: Presidio analyzer recognizer tests (parametrized cases)") + [
        "value = substring at the expected positions (kind of the recognizer) or, for cases expecting no result,"
        " the whole test text (kind none, presidio-negative); cross-checks (luhn=, stdnum-iban=, phonenumbers-valid=) are computed here",
    ])
    nat = Table("presidio_national_ids.tsv", gh_header(repo, files, "source: Presidio analyzer recognizer tests (national-id recognizers)") + [
        "value = substring at the expected positions or, for no-result cases, the whole text (none, presidio-negative);"
        " score= is the score the test expects; stdnum= is python-stdnum's verdict (computed here)",
    ])
    skipped = 0
    for fname, (kind, regions) in PRESIDIO_FILES.items():
        tree = ast.parse(github_file(repo, "presidio-analyzer/tests/" + fname))
        table = core if kind in CORE_KINDS else nat
        for fn, argnames, cases in parametrize_cases(tree):
            if not fn.startswith("test_when") and "recognizer" not in fn and "found" not in fn:
                pass
            tidx = next((i for i, a in enumerate(argnames) if a in ("text", "iban")), None)
            lidx = next((i for i, a in enumerate(argnames) if a == "expected_len"), None)
            pidx = next((i for i, a in enumerate(argnames)
                         if a in ("expected_positions", "expected_res", "expected_position")), None)
            sidx = next((i for i, a in enumerate(argnames) if a in ("expected_score", "score")), None)
            ridx = next((i for i, a in enumerate(argnames) if a == "expected_score_ranges"), None)
            if tidx is None or lidx is None or pidx is None:
                continue
            for case in cases:
                vals = lit(case)
                if not isinstance(vals, (tuple, list)) or len(vals) != len(argnames):
                    skipped += 1
                    continue
                text, n, pos = vals[tidx], vals[lidx], vals[pidx]
                if not isinstance(text, str):
                    continue
                if n == 0:
                    if len(text) <= 80:
                        table.add("none", text, ("presidio-negative imitates=%s %s" % (kind, "" if kind in ("email",) else
                                                 (phone_note(text, regions) if kind == "phone" else cross_check(kind, text)))).strip())
                    continue
                if pos and isinstance(pos[0], int):
                    pos = (pos,)
                for i, p in enumerate(pos[:n]):
                    v = text[p[0]:p[1]]
                    note = ["presidio-positive"]
                    if sidx is not None and isinstance(vals[sidx], (int, float)):
                        note.append("score=%s" % vals[sidx])
                    if ridx is not None and vals[ridx] and i < len(vals[ridx]):
                        note.append("score-range=%s-%s" % tuple(vals[ridx][i]))
                    if kind == "phone":
                        note.insert(0, phone_note(v, regions))
                    else:
                        cc = cross_check(kind, v)
                        if cc:
                            note.append(cc)
                    table.add(kind, v, " ".join(note))
    return core, nat, skipped


# --------------------------------------------------------------------------
# IBAN registry (php-iban registry.txt)


def iban_mod97(s):
    s = s.replace(" ", "").upper()
    r = s[4:] + s[:4]
    n = "".join(str(int(c, 36)) for c in r)
    return int(n) % 97 == 1


def print_form(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def build_iban_registry():
    from stdnum import iban
    repo = "globalcitizen/php-iban"
    t = Table("iban_registry.tsv", gh_header(repo, ["registry.txt (column iban_example)"],
                                             "source: php-iban's transcription of the SWIFT IBAN Registry (plus a few non-SWIFT national registries, swift_official=0)") + [
        "each example in electronic and print form; the none rows are the same examples with check digits"
        " changed (+1, generated here) -> bad-check-digit; mod97= and stdnum= are computed here",
    ])
    text = github_file(repo, "registry.txt")
    lines = text.splitlines()
    cols = lines[0].split("|")
    bad = []
    for line in lines[1:]:
        if not line.strip():
            continue
        rec = dict(zip(cols, line.split("|")))
        ex = rec["iban_example"].strip().replace(" ", "")
        cc = rec["country_code"]
        if not ex:
            continue
        meta = "country=%s swift_official=%s registry_edition=%s" % (cc, rec.get("swift_official", ""), rec.get("registry_edition", ""))
        ok = iban_mod97(ex)
        sv = "stdnum=%s" % ("valid" if iban.is_valid(ex) else "invalid")
        for form, v in (("electronic", ex), ("print", print_form(ex))):
            if ok:
                t.add("iban", v, "valid form=%s %s %s" % (form, meta, sv))
            else:
                t.add("none", v, "bad-check-digit registry-example-fails-mod97 form=%s %s" % (form, meta))
        cd = int(ex[2:4])
        ncd = cd + 1 if cd + 1 <= 98 else 2
        badv = ex[:2] + "%02d" % ncd + ex[4:]
        assert not iban_mod97(badv)
        bad.append((badv, meta))
    for badv, meta in bad:
        for form, v in (("electronic", badv), ("print", print_form(badv))):
            t.add("none", v, "bad-check-digit imitates=iban form=%s %s" % (form, meta))
    return t


# --------------------------------------------------------------------------
# test cards (Adyen public repos)


def build_cards():
    from stdnum import luhn
    t = Table("test_cards.tsv", [
        "source: Adyen test card numbers as committed in Adyen's public SDK repositories",
        "project: https://github.com/Adyen/adyen-ios commit %s file Tests/IntegrationTests/Card Tests/CardNumbers.swift license MIT"
        % GITHUB["Adyen/adyen-ios"],
        "project: https://github.com/Adyen/adyen-web commit %s file packages/e2e-playwright/tests/utils/constants.ts license MIT"
        % GITHUB["Adyen/adyen-web"],
        "kind card if the digits pass Luhn (stdnum.luhn) and have 12-19 digits, else none; brand= is the list/constant name in the source",
    ])
    src = github_file("Adyen/adyen-ios", "Tests/IntegrationTests/Card Tests/CardNumbers.swift")
    for m in re.finditer(r"static let (\w+) = \[(.*?)\]", src, re.S):
        brand = m.group(1)
        for line in m.group(2).splitlines():
            mm = re.search(r'"([0-9 ]+)"\s*,?\s*(?://\s*(.*))?', line)
            if not mm:
                continue
            v = mm.group(1)
            comment = re.sub(r"\s+", " ", mm.group(2) or "").strip()
            add_card(t, luhn, v, "brand=%s%s src=adyen-ios" % (brand, (" comment=" + comment.replace(" ", "_")) if comment else ""))
    src = github_file("Adyen/adyen-web", "packages/e2e-playwright/tests/utils/constants.ts")
    for m in re.finditer(r"export const (\w+) = '([0-9 ]+)';\s*(?://\s*(.*))?", src):
        name, v, comment = m.group(1), m.group(2), (m.group(3) or "")
        if "CARD" not in name and "MAESTRO" not in name and "PLCC" not in name and "GIFTCARD" not in name:
            continue
        if name == "GIFTCARD_PIN":
            continue
        add_card(t, luhn, v, "brand=%s src=adyen-web%s" % (name.lower(), (" comment=" + "_".join(comment.split()[:8])) if comment else ""))
    return t


def add_card(t, luhn, v, note):
    d = v.replace(" ", "")
    if len(d) < 4:
        return
    if 12 <= len(d) <= 19 and luhn.is_valid(d):
        t.add("card", v, "luhn=ok " + note)
        if " " not in v and len(d) == 16:
            t.add("card", print_form(d), "luhn=ok print-form-of-source-value " + note)
    else:
        why = "bad-check-digit" if 12 <= len(d) <= 19 else "bad-length"
        t.add("none", v, "%s imitates=card %s" % (why, note))


# --------------------------------------------------------------------------
# hard negatives (generated)


def mod10_febraban(digits):
    s = 0
    for i, ch in enumerate(reversed(digits)):
        p = int(ch) * (2 if i % 2 == 0 else 1)
        s += p // 10 + p % 10
    return (10 - s % 10) % 10


def mod11_weights(digits):
    s = 0
    w = 2
    for ch in reversed(digits):
        s += int(ch) * w
        w = 2 if w == 9 else w + 1
    return s


def boleto_bancario(rng):
    bank = "%03d" % rng.choice([1, 33, 104, 237, 341, 356, 389, 399, 422, 745, 748, 756, 77, 260, 336])
    cur = "9"
    factor = "%04d" % rng.randint(1000, 9999)
    value = "%010d" % rng.randint(100, 99999999)
    free = "".join(str(rng.randint(0, 9)) for _ in range(25))
    body = bank + cur + factor + value + free  # 43 digits, DV goes at position 4
    r = 11 - mod11_weights(body) % 11
    dv = 1 if r in (0, 10, 11) else r
    barcode = bank + cur + str(dv) + factor + value + free
    assert len(barcode) == 44
    f1 = bank + cur + free[0:5]
    f1 += str(mod10_febraban(f1))
    f2 = free[5:15]
    f2 += str(mod10_febraban(f2))
    f3 = free[15:25]
    f3 += str(mod10_febraban(f3))
    line = "%s.%s %s.%s %s.%s %d %s%s" % (f1[:5], f1[5:], f2[:5], f2[5:], f3[:5], f3[5:], dv, factor, value)
    assert len(re.sub(r"\D", "", line)) == 47
    return line


def boleto_convenio(rng):
    seg = str(rng.choice([1, 2, 3, 4, 5, 6, 7, 9]))
    vid = str(rng.choice([6, 7, 8, 9]))
    value = "%011d" % rng.randint(100, 9999999)
    rest = "".join(str(rng.randint(0, 9)) for _ in range(29))
    body = "8" + seg + vid + value + rest  # 43 digits

    def dv(d):
        if vid in "67":
            return mod10_febraban(d)
        r = mod11_weights(d) % 11
        return 0 if r in (0, 1) else 11 - r
    barcode = body[:3] + str(dv(body)) + body[3:]
    assert len(barcode) == 44
    blocks = [barcode[i:i + 11] for i in range(0, 44, 11)]
    return " ".join("%s-%d" % (b, dv(b)) for b in blocks)


def build_stdnum_generated():
    """Valid CPFs and CNPJs made by python-stdnum's own check-digit functions (its test
    files hold only a handful), from a seeded RNG: the formatted form (stdnum's `format`)
    and the compact one."""
    from stdnum.br import cpf, cnpj
    rng = random.Random(SEED + 1)
    t = Table("stdnum_generated.tsv", [
        "source: python-stdnum %s, stdnum.br.cpf / stdnum.br.cnpj calc_check_digits and format,"
        " over bases drawn by generate.py (seed %d)" % (PYPI["python-stdnum"], SEED + 1),
        "url: https://pypi.org/project/python-stdnum/",
        "license: LGPL-2.1+ (python-stdnum)",
    ])
    while len(t.rows) < 400:
        base = "".join(str(rng.randint(0, 9)) for _ in range(9))
        number = base + cpf._calc_check_digits(base)
        if cpf.is_valid(number):
            t.add("cpf", cpf.format(number), "valid generated formatted")
            t.add("cpf", number, "valid generated compact")
    while len(t.rows) < 800:
        base = "".join(str(rng.randint(0, 9)) for _ in range(8)) + rng.choice(["0001", "0001", "0002", "0010"])
        number = base + cnpj.calc_check_digits(base)
        if cnpj.is_valid(number):
            t.add("cnpj", cnpj.format(number), "valid generated formatted")
            t.add("cnpj", number, "valid generated compact")
    return t


def build_hard_negatives():
    from stdnum import ean, luhn
    from stdnum.br import cpf, cnpj
    rng = random.Random(SEED)
    t = Table("hard_negatives.tsv", [
        "source: generated by generate.py (seed %d); no library publishes these" % SEED,
        "boleto lines follow Febraban (47-digit bancaria: mod-10 field DVs + mod-11 general DV; 48-digit arrecadacao/convenio:"
        " mod-10 or mod-11 per value id); EAN-13 check digits computed and verified with python-stdnum stdnum.ean;"
        " CPF/CNPJ/card look-alikes are valid numbers (stdnum) with the last digit changed, re-validated as invalid;"
        " other rows whose digit runs happen to be a valid CPF, CNPJ or Luhn number of 13-19 digits are dropped (e.g. EAN-13 codes that pass Luhn)",
        "license: same as this repository",
    ])

    def risky(v):
        # a digit run that is itself a valid CPF / CNPJ / Luhn number of card length would make
        # the row ambiguous: such draws are dropped
        for run in re.findall(r"\d+", v):
            if (len(run) == 11 and cpf.is_valid(run)) or (len(run) == 14 and cnpj.is_valid(run)) \
                    or (13 <= len(run) <= 19 and luhn.is_valid(run)):
                return True
        return False

    def n(k, f):
        seen = set()
        guard = 0
        while len(seen) < k and guard < k * 50:
            guard += 1
            v, note = f()
            if v is None or v in seen:
                continue
            if not note.startswith("bad-check-digit") and not note.startswith("boleto") and risky(v):
                continue
            if t.add("none", v, note):
                seen.add(v)

    n(100, lambda: (boleto_bancario(rng), "boleto linha-digitavel 47-digit bancario"))
    n(100, lambda: (boleto_convenio(rng), "boleto linha-digitavel 48-digit arrecadacao/convenio"))

    def ipv4():
        a = rng.choice([10, 172, 192, 100, 8, 1, 203, 45, 151, 189, 200, 177, 34, 52, 13, 127, rng.randint(1, 223)])
        if a == 192:
            return "192.168.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254)), "ipv4"
        if a == 172:
            return "172.%d.%d.%d" % (rng.randint(16, 31), rng.randint(0, 255), rng.randint(1, 254)), "ipv4"
        return "%d.%d.%d.%d" % (a, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)), "ipv4"
    n(200, ipv4)

    def ts():
        y, mo, d = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
        h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        frac = "".join(str(rng.randint(0, 9)) for _ in range(rng.choice([3, 6, 9])))
        off = rng.choice(["Z", "Z", "+00:00", "+01:00", "+02:00", "-03:00", "-05:00", "+05:30", "+09:00", "-08:00"])
        sep = rng.choice(["T", "T", "T", " "])
        return "%04d-%02d-%02d%s%02d:%02d:%02d.%s%s" % (y, mo, d, sep, h, mi, s, frac, off), "iso8601-timestamp"
    n(200, ts)

    def ean13():
        body = "".join(str(rng.randint(0, 9)) for _ in range(12))
        if rng.random() < 0.5:
            body = rng.choice(["789", "790", "400", "401", "590", "880", "500", "300", "840"]) + body[3:]
        v = body + ean.calc_check_digit(body)
        assert ean.is_valid(v)
        return v, "ean13"
    n(200, ean13)

    def order():
        tpl = rng.choice([
            ("Protocolo %d%02d%02d%06d", lambda: (rng.randint(2020, 2027), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 999999))),
            ("Protocolo n\u00ba %d", lambda: (rng.randint(10 ** 9, 10 ** 12),)),
            ("Pedido #%d", lambda: (rng.randint(10 ** 5, 10 ** 8),)),
            ("Pedido n\u00ba %d", lambda: (rng.randint(10 ** 6, 10 ** 10),)),
            ("Bestellnummer %04d-%04d-%02d", lambda: (rng.randint(1000, 9999), rng.randint(0, 9999), rng.randint(0, 99))),
            ("Auftragsnummer %d", lambda: (rng.randint(10 ** 7, 10 ** 10),)),
            ("order %d", lambda: (rng.randint(10 ** 6, 10 ** 9),)),
            ("Order #%d", lambda: (rng.randint(10 ** 5, 10 ** 11),)),
            ("Order ID: %d-%d", lambda: (rng.randint(100, 999), rng.randint(10 ** 6, 10 ** 7))),
            ("Invoice INV-%d-%05d", lambda: (rng.randint(2020, 2027), rng.randint(0, 99999))),
            ("Ticket #%d", lambda: (rng.randint(10 ** 4, 10 ** 9),)),
            ("N\u00famero de pedido %d", lambda: (rng.randint(10 ** 8, 10 ** 11),)),
            ("Commande n\u00b0 %d", lambda: (rng.randint(10 ** 6, 10 ** 10),)),
            ("Nota fiscal %d", lambda: (rng.randint(10 ** 5, 10 ** 9),)),
            ("Tracking %d", lambda: (rng.randint(10 ** 11, 10 ** 13),)),
        ])
        return tpl[0] % tpl[1](), "order-or-protocol-number"
    n(200, order)

    def uu():
        return str(uuidlib.UUID(int=rng.getrandbits(128), version=4)), "uuid"
    n(100, uu)

    def price():
        v = rng.randint(1, 10 ** 8)
        ip, cents = v // 100, v % 100
        br = "{:,}".format(ip).replace(",", ".")
        us = "{:,}".format(ip)
        return rng.choice([
            "R$ %s,%02d" % (br, cents), "\u20ac %s,%02d" % (br, cents), "%s,%02d \u20ac" % (br, cents),
            "$%s.%02d" % (us, cents), "US$ %s.%02d" % (us, cents), "\u00a3%s.%02d" % (us, cents),
            "BRL %s,%02d" % (br, cents), "EUR %s,%02d" % (br, cents),
        ]), "price"
    n(100, price)

    def dt():
        y, mo, d = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
        h, mi = rng.randint(0, 23), rng.randint(0, 59)
        return rng.choice([
            "%02d/%02d/%04d %02d:%02d" % (d, mo, y, h, mi), "%02d.%02d.%04d %02d:%02d" % (d, mo, y, h, mi),
            "%02d/%02d/%04d" % (mo, d, y), "%04d-%02d-%02d %02d:%02d" % (y, mo, d, h, mi),
            "%02d/%02d/%04d \u00e0s %02dh%02d" % (d, mo, y, h, mi), "%02d-%02d-%04d %02d:%02d:%02d" % (d, mo, y, h, mi, rng.randint(0, 59)),
        ]), "date-time"
    n(100, dt)

    def semver():
        v = "%d.%d.%d" % (rng.randint(0, 30), rng.randint(0, 99), rng.randint(0, 999))
        r = rng.random()
        if r < 0.2:
            v += "-rc.%d" % rng.randint(1, 9)
        elif r < 0.3:
            v += "-beta.%d+build.%d" % (rng.randint(1, 9), rng.randint(1, 99999))
        elif r < 0.4:
            v += ".%d" % rng.randint(0, 9999)
        return rng.choice(["v", "", "", "version ", "v"]) + v, "version-string"
    n(100, semver)

    def bump_last(s):
        return s[:-1] + str((int(s[-1]) + 1) % 10)

    import phonenumbers as pn
    PACK_REGIONS = ["BR", "DE", "PT", "IN", "ID", "CO", "US", "GB", "ES", "MX"]

    def phone_note(value):
        """Where libphonenumber reads a bare look-alike's digits as a valid number of a
        region veil's shipped pack serves (a national number there): such a look-alike is
        also a phone number, and a detector that takes it for one is right."""
        if not value.isdigit():
            return ""  # written in the document's own layout: no phone's
        digits = value
        valid = []
        for region in PACK_REGIONS:
            try:
                num = pn.parse(digits, region)
            except pn.NumberParseException:
                continue
            if pn.is_valid_number(num) and pn.region_code_for_number(num) == region:
                valid.append(region)
        return (" phone-valid-in=" + ",".join(valid)) if valid else ""

    def cpf_bad():
        base = "".join(str(rng.randint(0, 9)) for _ in range(9))
        good = base + cpf._calc_check_digits(base)
        assert cpf.is_valid(good)
        bad = bump_last(good)
        if cpf.is_valid(bad):
            return None, None
        value = cpf.format(bad) if rng.random() < 0.5 else bad
        return value, "bad-check-digit imitates=cpf" + phone_note(value)
    n(100, cpf_bad)

    def cnpj_bad():
        base = "".join(str(rng.randint(0, 9)) for _ in range(8)) + rng.choice(["0001", "0001", "0002", "0003"])
        good = base + cnpj.calc_check_digits(base)
        assert cnpj.is_valid(good)
        bad = bump_last(good)
        if cnpj.is_valid(bad):
            return None, None
        value = cnpj.format(bad) if rng.random() < 0.5 else bad
        return value, "bad-check-digit imitates=cnpj" + phone_note(value)
    n(100, cnpj_bad)

    def card_bad():
        prefix, length = rng.choice([("4", 16), ("51", 16), ("52", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                     ("6011", 16), ("35", 16), ("36", 14), ("6062", 16), ("636368", 16), ("2200", 16)])
        body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
        good = body + luhn.calc_check_digit(body)
        assert luhn.is_valid(good)
        bad = bump_last(good)
        if luhn.is_valid(bad):
            return None, None
        if length == 16 and rng.random() < 0.5:
            bad = print_form(bad)
        return bad, "bad-check-digit imitates=card (luhn fails)"
    n(100, card_bad)
    return t


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--work", default=None, help="dir for pip downloads (default: a temp dir)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="veil-detection-")
    root = setup_packages(work)
    tables = [build_stdnum(root), build_national_ids(root)]
    tables += list(build_phonenumbers())
    tables.append(build_email())
    core, nat, skipped = build_presidio()
    tables += [core, nat]
    tables.append(build_iban_registry())
    tables.append(build_cards())
    tables.append(build_stdnum_generated())
    tables.append(build_hard_negatives())
    for tb in tables:
        kinds = {}
        for k, v, _ in tb.rows:
            kinds.setdefault(v, set()).add(k)
        for v, ks in kinds.items():
            if len(ks) > 1:
                print("WARNING %s: %r has kinds %s" % (tb.name, v, sorted(ks)), file=sys.stderr)
        tb.write(args.out)
    summary = []
    for tb in tables:
        c = tb.counts()
        summary.append("| %s | %d | %s |" % (tb.name, sum(c.values()), ", ".join("%s %d" % kv for kv in sorted(c.items()))))
    print("\n".join(summary))
    if skipped:
        print("presidio cases skipped (not literal):", skipped, file=sys.stderr)


if __name__ == "__main__":
    main()

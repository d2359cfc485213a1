"""Reading the ops kit: metric selectors out of PromQL, and the commands,
routes and metric names out of the runbooks, so tests can hold them against
a real scrape, the CLI and the route table."""

import os
import re

from harness import SOURCE

PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "le",
}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def promql_selectors(expr):
    """(metric name, [(label, op, value)]) for every series selector in a
    PromQL expression; functions, keywords and grouping labels are skipped."""
    selectors = []
    # Grouping clauses hold label names, not metrics.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    pos = 0
    pattern = re.compile(r'"(?:[^"\\]|\\.)*"|(' + NAME + r')\s*(\{[^}]*\})?|\{[^}]*\}')
    while True:
        m = pattern.search(text, pos)
        if not m:
            break
        pos = m.end()
        name = m.group(1)
        if not name:
            continue
        after = text[m.end():].lstrip()
        if m.group(2) is None and after.startswith("("):
            continue  # a function call
        if name.lower() in PROMQL_WORDS or re.fullmatch(r"[0-9.e+]+", name):
            continue
        matchers = re.findall(r'(' + NAME + r')\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', m.group(2) or "")
        selectors.append((name, matchers))
    return selectors


def parse_scrape(text):
    """[(name, {labels})] for every sample of a Prometheus text scrape."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(" + NAME + r")(\{[^}]*\})?\s", line)
        if m:
            samples.append((m.group(1), dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))))
    return samples


def selector_matches(samples, name, matchers):
    """Whether some sample satisfies the selector."""
    for sample_name, labels in samples:
        if sample_name != name:
            continue
        ok = True
        for label, op, value in matchers:
            got = labels.get(label, "")
            if op == "=":
                ok = got == value
            elif op == "!=":
                ok = got != value
            elif op == "=~":
                ok = re.fullmatch(value, got) is not None
            else:
                ok = re.fullmatch(value, got) is None
            if not ok:
                break
        if ok:
            return True
    return False


# --- runbooks -------------------------------------------------------------

RUNBOOK_DIR = os.path.join(SOURCE, "docs", "runbooks")
SECTIONS = ["Alert signal", "Quick diagnosis", "Likely causes", "Safe remediation", "Confirm it is fixed",
            "Escalation"]


def runbook_pages():
    return sorted(os.path.join(RUNBOOK_DIR, f) for f in os.listdir(RUNBOOK_DIR) if f.endswith(".md"))


def code_blocks(text):
    """(language, body) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def inline_code(text):
    """Backticked spans outside fenced blocks."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", prose)


def cli_commands(text):
    """Argument lists of every `clean-service ...` command: lines of shell
    blocks and inline code. Placeholders such as <name> are returned as is."""
    found = []
    candidates = []
    for lang, body in code_blocks(text):
        if lang in ("sh", "bash", "shell", "console", ""):
            candidates += body.splitlines()
    candidates += inline_code(text)
    for line in candidates:
        for m in re.finditer(r"(?:^|[\s;|&(`])clean-service\s+([^|;&#)`]*)", line):
            args = re.split(r"\s\d?>", m.group(1))[0].split()  # up to a redirection
            # A trailing backslash continues the line in shell; keep what we have.
            args = [a for a in args if a != "\\"]
            if args:
                found.append(args)
    return found


def routes_in(text):
    """Every HTTP path the page names (query strings stripped)."""
    paths = set()
    # PromQL holds regexes over paths (path=~"/v1/.*"), not routes.
    text = re.sub(r"^```promql\n.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*=~[^`\n]*`", "", text)
    for m in re.finditer(r"(/v1/[A-Za-z0-9_{}.\-/]*|/healthz|/livez|/readyz|/metrics(?:/basic)?)", text):
        path = m.group(1).rstrip(".-/") or m.group(1)
        paths.add(path)
    return paths


def route_matches(path, template):
    """A concrete or template path against a route template ({id} is one
    segment, {path...} one or more)."""
    regex = ""
    for part in re.split(r"(\{[^}]*\})", template):
        if part.startswith("{") and part.endswith("...}"):
            regex += r"[^?#]+"
        elif part.startswith("{"):
            regex += r"[^/?#]+"
        else:
            regex += re.escape(part)
    return re.fullmatch(regex, path) is not None


METRIC_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def metric_names_in(text):
    """Metric names a page cites: identifiers in PromQL blocks, and inline
    code that is a metric-like name (optionally with a {selector} or a
    PromQL expression). JSON fields (.field, "field"), log events
    (event=...), env vars and CLI words do not count."""
    names = set()
    for lang, body in code_blocks(text):
        if lang == "promql":
            names.update(name for name, _ in promql_selectors(body))
    for span in inline_code(text):
        span = span.strip()
        if "(" in span and not span.startswith(("curl", "clean-service")):
            names.update(name for name, _ in promql_selectors(span))
            continue
        m = re.match(r"(" + NAME + r")(\{|\[|$)", span)
        if m and METRIC_TOKEN.fullmatch(m.group(1)):
            names.add(m.group(1))
    return names

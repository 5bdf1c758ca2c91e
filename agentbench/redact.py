"""One redaction pass over everything a run writes: config.yaml, run.sqlite (meta, attempts, events),
summary.json, compare.json / sweep.json / plan.json, report.html and the exports.

A `Redactor` knows the run's secrets, taken from the fields the schema marks `secret`
(`json_schema_extra={"secret": KIND}` in agentbench/config/schema.py):

- `env`: the field NAMES an environment variable; that variable's value is a secret (`model.api_key_env`);
- `values`: every value of the mapping is a secret (`model.server.env`);
- `args`: command-line arguments; the value after a flag that looks secret (`--api-key`, `--*token*`,
  `--*key*`, `--*secret*`, `--*password*`; `--flag VALUE` and `--flag=VALUE`) is a secret
  (`model.server.extra_args`);
- `url`: the userinfo of a URL (`http://user:PASSWORD@host`) is a secret (`model.base_url`),

and, anywhere in the config (`graph_params` above all), the scalar value under a secret-looking key
(`api_token:`, `password:`; `SECRET_KEY`): masked in the config as written, and searched for in all else
written, so it is masked everywhere (the graph itself still gets the real value). It masks, in any text, those values (and their JSON-, HTML- and URL-escaped forms) plus the shapes of
well-known credentials: `sk-…` (OpenAI, Anthropic), `hf_…`, `ghp_…` / `github_pat_…`, AWS access key ids,
Slack `xox?-…`, Google `AIza…`, PEM private keys, `Bearer <token>`, `api_key=<token>`-style assignments,
URL userinfo, and in JSON the string value of a secret-looking key (`"api_key": "…"`, `"HF_TOKEN": "…"`,
`"password": "…"`). Each becomes `***` (a public prefix such as `Bearer `, `api_key=` or `sk-` stays).

The known values are replaced as plain substrings (longest first); the shapes are one precompiled regex
alternation (plus `Bearer`, tried only where the text has it), so a text with no secret costs a few scans
at C speed, about what encoding it as JSON costs. `json_text` redacts serialised JSON in place (the
store's hot path) and falls back to a walk of the decoded value in the rare case a replacement would
break the JSON; `json_texts` scans an attempt's events joined, once, and redacts them one by one only where
that finds something. The runner keeps the unredacted config in memory (the server still gets its
environment); only what is written goes through here.

The terminal goes through the same pass (agentbench.cli_common): its Redactor knows the secrets of the
config and `--set` overrides, and the values of environment variables with secret-looking names
(`environ_secrets`: HF_TOKEN, OPENAI_API_KEY, *_PASSWORD...); the managed model server's log is written
through one too (agentbench.models.server). Messages name a URL by `public_url`: without its userinfo.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

MASK = "***"
#: Shorter configured values are masked in the config but not searched for in free text (a 1-5 character
#: value like "0" or "DEBUG" is no credential and would mask ordinary text).
MIN_LITERAL = 6

# -- patterns ------------------------------------------------------------------------------------------
# Every alternative starts with a plain literal character, outside any group, that is rare in ordinary text
# (`-`, `_`, `:`, `=`, `A`): the regex engine skips every position no alternative can start at, and most
# text is never tried further (a match attempt costs ~100 ns, a skipped character ~1). What comes before
# that character is checked by lookbehinds (fixed width). The masked part is the named group `v…`; an
# alternative without one is masked whole. `Bearer …` is a second regex, tried where "earer" occurs.
_TOKEN_VALUE = r"(?=[A-Za-z0-9._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{12,}"  # 12+ token characters, a digit among them


def _widths(word: str) -> list[str]:
    """`api[_-]?key` -> [`api[_-]key`, `apikey`]: lookbehinds need a fixed width."""
    return [word.replace("[_-]?", "[_-]"), word.replace("[_-]?", "")] if "[_-]?" in word else [word]


#: Credential shapes (the kind's public prefix, like `sk-`, is kept; the rest masked).
SHAPES: list[str] = [
    r"-(?<=sk-)(?<![A-Za-z0-9]sk-)(?P<v_openai>(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,})",  # OpenAI, Anthropic
    r"_(?<=hf_)(?<![A-Za-z0-9]hf_)(?P<v_hf>[A-Za-z0-9]{30,})",  # Hugging Face
    r"_(?<=gh[pousr]_)(?<![A-Za-z0-9]gh[pousr]_)(?P<v_gh>[A-Za-z0-9]{30,})",  # GitHub
    r"_(?<=github_pat_)(?P<v_ghpat>[A-Za-z0-9_]{40,})",  # GitHub fine-grained
    r"-(?<=xox[abposr]-)(?<![A-Za-z0-9]xox[abposr]-)(?P<v_slack>[A-Za-z0-9-]{10,})",  # Slack
    r"A(?<![A-Z0-9]A)(?:KIA|SIA)[A-Z0-9]{16}(?![A-Z0-9])",  # AWS access key id
    r"A(?<![A-Za-z0-9]A)Iza[A-Za-z0-9_-]{35}",  # Google API key
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)-----END [A-Z ]*PRIVATE KEY-----",  # PEM private key
]

#: Secret-looking names of a JSON / mapping key whose string value is masked (`api_key`, `HF_TOKEN`,
#: `client_secret`, `aws_secret_access_key`, `password`, `Authorization`; not `max_tokens`, `api_key_env`).
_KEY_WORDS = ["api[_-]?key", "access[_-]?key", "secret[_-]?key", "private[_-]?key", "secret", "password",
              "passwd", "authorization", "bearer", "credential", "credentials"]
SECRET_KEY = re.compile(rf"(?i)(?:{'|'.join(_KEY_WORDS)}|(?:^|[_-])token)$")
#: Names in `name=value` / `name: value` text (fewer: `password = …` is everyday code).
_ASSIGN_WORDS = ["api[_-]?key", "access[_-]?key", "secret[_-]?key", "access[_-]?token", "auth[_-]?token",
                 "client[_-]?secret", "[_-]token"]  # the last: HF_TOKEN=…, github-token: …


def _any_behind(words: list[str], tail: str) -> str:
    return "(?:" + "|".join(f"(?<=(?i:{w}){tail})" for word in words for w in _widths(word)) + ")"


_JSON_KEY = _any_behind(_KEY_WORDS, '":') + '|(?<=[_"-](?i:token)":)'
_ASSIGN_GATE = "(?:(?<=[yYnNtT]{sep})|(?<=[yYnNtT][' ]{sep}))"  # the name's last letter, then the separator

#: A prefix kept, the group `v…` masked.
KEEP_PREFIX: list[str] = [
    rf':(?<=":)(?:{_JSON_KEY})\s*"(?P<v_json>(?:[^"\\]|\\.)+)(?=")',  # "api_key": "…", "HF_TOKEN": "…"
    *[sep + _ASSIGN_GATE.format(sep=sep) + "(?:" + _any_behind(_ASSIGN_WORDS, sep) + "|"
      + _any_behind(_ASSIGN_WORDS, "[' ]" + sep) + rf")\s*['\"]?(?P<v_assign{i}>{_TOKEN_VALUE})"
      for i, sep in enumerate("=:")],  # api_key=…, API_KEY: …, 'api_key': '…'
    r"://(?P<v_userinfo>[^\s/@:\"'<>\\]+:[^\s/@\"'<>\\]+)(?=@)",  # scheme://user:password@
]

#: Tried only where the text has "earer" (its first letter, b, is everywhere in prose).
BEARER = re.compile(rf"(?<![A-Za-z0-9])[Bb]earer\s+(?P<v_bearer>{_TOKEN_VALUE})")

#: A command-line flag whose value is a secret: --api-key, --*token* (not --*tokens* / --tokenizer),
#: --*key*, --*secret*, --*password* / --*passwd*.
SECRET_FLAG = re.compile(r"(?i)^--[\w-]*(?:token(?!s|izer)|key|secret|password|passwd)[\w-]*$")


@lru_cache(maxsize=1)
def _compile() -> re.Pattern[str]:
    """The one alternation, one branch per first character (fewer tries at each candidate position)."""
    by_first: dict[str, list[str]] = {}
    for alt in SHAPES + KEEP_PREFIX:
        by_first.setdefault(alt[0], []).append(alt[1:])
    return re.compile("|".join(f"{re.escape(first)}(?:{'|'.join(rests)})" for first, rests in by_first.items()))


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in what we write: raw, in JSON strings (ASCII and not), HTML, a URL."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             html.escape(secret, quote=True), quote(secret, safe="")}
    embedded = json.dumps(secret, ensure_ascii=False)[1:-1]  # as report.html embeds JSON (no < > &)
    forms.add(embedded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return {f for f in forms if f}


def _is_literal(value: str) -> bool:
    """Long enough, and not a plain number (which would mask figures in the JSON we write)."""
    return len(value) >= MIN_LITERAL and re.fullmatch(r"[\d.,:+\-eE ]*", value) is None


# -- the secret fields of the schema ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def secret_fields() -> tuple[tuple[tuple[str, ...], str], ...]:
    """(dotted path, kind) of every field of ExperimentConfig marked `secret` in its json_schema_extra."""
    from pydantic import BaseModel

    from agentbench.config.schema import ExperimentConfig

    found: list[tuple[tuple[str, ...], str]] = []

    def walk(model: type[BaseModel], prefix: tuple[str, ...]) -> None:
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if extra.get("secret"):
                found.append(((*prefix, name), str(extra["secret"])))
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                walk(field.annotation, (*prefix, name))

    walk(ExperimentConfig, ())
    return tuple(found)


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#\s]*@")


def public_url(url: str) -> str:
    """A URL (or any text naming URLs) as a message may show it: without userinfo (`http://user:pw@host/v1`
    -> `http://host/v1`)."""
    return _USERINFO.sub(r"\1", url) if "@" in url else url


def split_userinfo(url: str) -> tuple[str, str | None]:
    """(the URL with its userinfo as ***, the userinfo) ; (url, None) when it has none."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@?#]*)@", url)
    if not m:
        return url, None
    return m.group(1) + MASK + url[m.end(2):], m.group(2)


def arg_secrets(args: list[str]) -> list[tuple[int, str | None]]:
    """(index, value) of each secret value in argv-style `args`: the arg after a secret flag, or the value of
    a `--flag=value` (returned with the index of that arg and the value alone)."""
    out: list[tuple[int, str | None]] = []
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if not SECRET_FLAG.match(flag):
            continue
        if eq:
            out.append((i, value))
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append((i + 1, None))
    return out


def _is_keyed(key: Any, value: Any) -> bool:
    """A scalar value (not a bool) under a secret-looking key (`api_token`, `password`, `HF_TOKEN`)."""
    return (isinstance(key, str) and isinstance(value, (str, int, float)) and not isinstance(value, bool)
            and SECRET_KEY.search(key) is not None)


def keyed_secrets(data: Any, budget: int = 100_000) -> set[str]:
    """The scalar values under secret-looking keys anywhere in `data` (graph_params' `api_token:`), walked
    iteratively, at most `budget` nodes (a hostile document cannot make the walk long)."""
    found: set[str] = set()
    stack = [data]
    while stack and budget > 0:
        node, budget = stack.pop(), budget - 1
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _is_keyed(key, value):
                    found.add(str(value))
                elif isinstance(value, (Mapping, list, tuple)):
                    stack.append(value)
        elif isinstance(node, (list, tuple)):
            stack.extend(v for v in node if isinstance(v, (Mapping, list, tuple)))
    return found


def environ_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    """The values of environment variables whose name looks secret (HF_TOKEN, OPENAI_API_KEY, DB_PASSWORD)."""
    environ = os.environ if environ is None else environ
    return {v for k, v in environ.items() if v and SECRET_KEY.search(k)}


def config_secrets(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> set[str]:
    """The secret values a config (a model_dump, or a raw one not yet validated) names: by the schema's
    `secret` markers, and the values under secret-looking keys (`keyed_secrets`)."""
    environ = os.environ if environ is None else environ
    found: set[str] = keyed_secrets(config)
    for path, kind in secret_fields():
        value = _get(config, path)
        if kind == "env" and isinstance(value, str) and environ.get(value):
            found.add(environ[value])
        elif kind == "values" and isinstance(value, Mapping):
            found.update(str(v) for v in value.values() if v not in (None, ""))
        elif kind == "args" and isinstance(value, list):
            args = [str(a) for a in value]
            found.update(v if v is not None else args[i] for i, v in arg_secrets(args))
        elif kind == "url" and isinstance(value, str):
            _, userinfo = split_userinfo(value)
            if userinfo:
                found.add(userinfo)
                found.add(userinfo.partition(":")[2])
    return {s for s in found if s and s != MASK}


class Redactor:
    """Masks a run's secrets and credential shapes in text, JSON and nested values (see the module doc)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if s and s != MASK and _is_literal(s))
        # the known values (each in every form it takes), longest first: plain substring replacement
        self._literals = tuple(sorted({v for s in self.secrets for v in _variants(s)}, key=lambda v: (-len(v), v)))
        self._rx = _compile()

    @classmethod
    def from_config(cls, config: Any = None, environ: Mapping[str, str] | None = None) -> Redactor:
        """From an ExperimentConfig or its model_dump (a stored one: its masked fields add nothing), with
        the value of the variable `model.api_key_env` names, read from `environ` (default os.environ)."""
        if config is None:
            return cls()
        data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        return cls(config_secrets(data, environ))

    def merge(self, *others: Redactor) -> Redactor:
        return Redactor(self.secrets.union(*(o.secrets for o in others)))

    # -- text ---------------------------------------------------------------------------------------
    @staticmethod
    def _sub(m: re.Match[str]) -> str:
        group = m.lastgroup  # the masked part of a kept-prefix pattern; None: the whole match
        if group is None:
            return MASK
        return m.string[m.start():m.start(group)] + MASK + m.string[m.end(group):m.end()]

    def _subn(self, text: str) -> tuple[str, int]:
        found = 0
        for literal in self._literals:
            if literal in text:
                text, found = text.replace(literal, MASK), found + 1
        text, n = self._rx.subn(self._sub, text)
        if "earer" in text:
            text, m = BEARER.subn(self._sub, text)
            n += m
        return text, found + n

    def text(self, text: str) -> str:
        return self._subn(text)[0]

    def json_text(self, text: str, **dump_kwargs: Any) -> str:
        """Serialised JSON with its secrets masked, still valid JSON that decodes to the redacted value (in
        the rare case a replacement would cross JSON syntax, the decoded value is walked and dumped again
        with `dump_kwargs`)."""
        out, n = self._subn(text)
        if not n:
            return text
        try:
            json.loads(out)
            return out
        except ValueError:
            return json.dumps(self.value(json.loads(text)), **{"ensure_ascii": False, **dump_kwargs})

    def json_texts(self, texts: list[str], **dump_kwargs: Any) -> list[str]:
        """`json_text` of each of many texts (an attempt's events), in one scan when none holds a secret: a match
        in one text is a match in them joined by newlines too (no lookaround of a pattern tells a newline
        beside a text from the text's start or end), so a joined text without one leaves each text as it
        is; else each is redacted alone."""
        if not texts or not self._subn("\n".join(texts))[1]:
            return texts
        return [self.json_text(text, **dump_kwargs) for text in texts]

    def dumps(self, value: Any, **kwargs: Any) -> str:
        """json.dumps(value, **kwargs) (default=str unless given), redacted."""
        kwargs.setdefault("default", str)
        return self.json_text(json.dumps(value, **kwargs), **{"ensure_ascii": True, **kwargs})

    # -- values -------------------------------------------------------------------------------------
    def value(self, value: Any) -> Any:
        """A copy with every string redacted, and the string values of secret-looking keys masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(k) if isinstance(k, str) else k:
                    MASK if isinstance(v, str) and v and isinstance(k, str) and SECRET_KEY.search(k)
                    else self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def config(self, config: Any) -> dict[str, Any]:
        """A config (ExperimentConfig or its model_dump) as it may be written: the `secret` fields masked
        (every server.env value, the values of secret flags, URL userinfo), then `value()`."""
        data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        data = json.loads(json.dumps(data, default=str))  # a deep copy
        for path, kind in secret_fields():
            parent = _get(data, path[:-1]) if len(path) > 1 else data
            if not isinstance(parent, dict) or parent.get(path[-1]) is None:
                continue
            value = parent[path[-1]]
            if kind == "values" and isinstance(value, dict):
                parent[path[-1]] = {k: MASK for k in value}
            elif kind == "args" and isinstance(value, list):
                args = [str(a) for a in value]
                for i, v in arg_secrets(args):
                    args[i] = f"{args[i].partition('=')[0]}={MASK}" if v is not None else MASK
                parent[path[-1]] = args
            elif kind == "url" and isinstance(value, str):
                parent[path[-1]] = split_userinfo(value)[0]
        return self.value(_mask_keyed(data))


def _mask_keyed(data: Any) -> Any:
    """`data` (a JSON-like tree, changed in place) with every scalar under a secret-looking key masked:
    numbers too (a `password: 12345678`), which `Redactor.value` leaves alone in what else is written."""
    if isinstance(data, dict):
        for key, value in data.items():
            data[key] = MASK if _is_keyed(key, value) and value != "" else _mask_keyed(value)
    elif isinstance(data, list):
        data[:] = [_mask_keyed(v) for v in data]
    return data


def masked_fields(config: Mapping[str, Any]) -> list[str]:
    """Dotted keys of a config's `secret` fields that hold a masked value (a stored config read back):
    a run cannot use them."""
    hits = []
    for path, kind in secret_fields():
        value = _get(config, path)
        text = json.dumps(value) if value is not None else ""
        if kind != "env" and MASK in text:
            hits.append(".".join(path))
    stack: list[tuple[str, Any]] = [("graph_params", config.get("graph_params"))]  # the graph would get `***`
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            hits += [f"{where}.{k}" for k, v in node.items() if v == MASK and _is_keyed(k, v)]
            stack += [(f"{where}.{k}", v) for k, v in node.items()]
    return hits

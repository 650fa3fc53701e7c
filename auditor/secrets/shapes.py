"""The shapes a secret takes in one line of user data: assignments and command-line flags.

Each function yields candidates `(where, value)`; `where` names the variable or the tool
and flag (never the value). Whether a value is a literal secret is decided by the caller
with `values.classify`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from auditor.secrets.names import secret_name

# NAME=value, $NAME = value, $env:NAME = "value", name: value, "name": "value", Password=x;
_ASSIGN = re.compile(
    r"(?<![\w.:/\\$-])(?P<sigil>\$env:|\$)?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?[ \t]*"
    r"(?P<op>:=|=(?!=)|:(?=[ \t\"']))[ \t]*",
)
_SET_ENV = re.compile(
    r"SetEnvironmentVariable\(\s*[\"'](?P<name>[^\"']+)[\"']\s*,\s*", re.IGNORECASE
)
_SETX = re.compile(r"\bsetx\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s+", re.IGNORECASE)
_BARE = re.compile(r"[^\s;|&,)}\]\"'<>]+")
_SECURE_STRING = re.compile(
    r"ConvertTo-SecureString\s+(?:-String\s+)?(?P<v>\"[^\"]*\"|'[^']*'|\S+)(?=[^\n]*-AsPlainText)",
    re.IGNORECASE,
)
_PIPED = re.compile(
    r"\b(?:echo|printf)\s+(?:-[ne]+\s+)?(?P<v>\"[^\"]*\"|'[^']*'|[^\s|]+)\s*\|\s*(?:sudo\s+)?"
    r"(?P<cmd>[^\n]*)",
    re.IGNORECASE,
)
# echo 'x' > ~/.vault_pass, printf 'x' > /etc/app/db_password
_WRITTEN = re.compile(
    r"\b(?:echo|printf)\s+(?:-[ne]+\s+)?(?P<v>\"[^\"]*\"|'[^']*'|[^\s>|]+)\s*>>?\s*(?P<path>\S+)"
)
# .netrc: machine HOST login USER password PW
_NETRC = re.compile(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<v>[^\s\"']+)")
# PowerShell registry / settings: -Name DefaultPassword -Value 'x'
_NAME_VALUE = re.compile(
    r"-Name\s+[\"']?(?P<name>[A-Za-z_][\w.-]*)[\"']?\s+(?:-\w+\s+\S+\s+)*-Value\s+",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;|&]+|&&|\|\||[;|&]")
_SEPARATORS = frozenset({";", "|", "&", "&&", "||"})
_MYSQL = frozenset(
    {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlsh", "mariadb", "mariadb-dump"}
)
_LOGIN = frozenset(
    {"docker", "podman", "nerdctl", "buildah", "skopeo", "helm", "oras", "crane", "finch", "az"}
)
_MONGO = frozenset({"mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport"})
_SQLCMD = frozenset({"sqlcmd", "bcp", "osql"})
_TOOLS = (
    _MYSQL
    | _LOGIN
    | _MONGO
    | _SQLCMD
    | {"sshpass", "curl", "wget", "redis-cli", "net", "aws", "htpasswd", "choco", "nuget"}
)
_SECRET_FILE = re.compile(
    r"(PASS|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIALS?|API_?KEY|PGPASS)(_|$)", re.IGNORECASE
)
_HEADER = re.compile(
    r"^(?P<name>[A-Za-z0-9-]+)\s*:\s*(?:(?:Bearer|Basic|Token|Bot|ApiKey)\s+)?(?P<v>\S+)$",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def value_at(line: str, i: int) -> str:
    """The value that starts at `i`: a quoted string, a $(...) substitution or a bare word."""
    if i >= len(line):
        return ""
    quote = line[i]
    if quote in "\"'":
        j = i + 1
        while j < len(line):
            if line[j] == "\\" and quote == '"':
                j += 2
                continue
            if line[j] == quote:
                return line[i : j + 1]
            j += 1
        return line[i:]
    if line.startswith("$(", i) or line.startswith("(", i):
        depth = 0
        for j in range(i, len(line)):
            depth += {"(": 1, ")": -1}.get(line[j], 0)
            if depth == 0:
                return line[i : j + 1]
        return line[i:]
    if line.startswith("${", i):
        end = line.find("}", i)
        return line[i : end + 1] if end >= 0 else line[i:]
    match = _BARE.match(line, i)
    return match.group(0) if match else ""


def assignments(line: str) -> Iterator[tuple[str, str]]:
    """(variable name, value) for secret-named assignments in the line."""
    for match in _ASSIGN.finditer(line):
        name = match.group("name")
        if secret_name(name):
            yield name, value_at(line, match.end())
    for match in _NAME_VALUE.finditer(line):
        if secret_name(match.group("name")):
            yield match.group("name"), value_at(line, match.end())
    for pattern in (_SET_ENV, _SETX):
        for match in pattern.finditer(line):
            if secret_name(match.group("name")):
                yield match.group("name"), value_at(line, match.end())


def holder(line: str, value: str) -> str:
    """The name of the variable or key on the line whose value holds `value`, or ""."""
    for match in _ASSIGN.finditer(line):
        if value in value_at(line, match.end()):
            return match.group("name")
    return ""


def secure_strings(line: str) -> Iterator[tuple[str, str]]:
    for match in _SECURE_STRING.finditer(line):
        yield "ConvertTo-SecureString -AsPlainText", match.group("v")


def piped(line: str) -> Iterator[tuple[str, str]]:
    """`echo 'pw' | docker login --password-stdin`, `echo 'root:pw' | chpasswd`."""
    for match in _PIPED.finditer(line):
        cmd, value = match.group("cmd"), unquote(match.group("v"))
        if "--password-stdin" in cmd:
            yield f"{cmd.split()[0]} --password-stdin", value
        elif re.match(r"(chpasswd|passwd\s+--stdin)\b", cmd):
            yield cmd.split()[0], value.partition(":")[2] if ":" in value else value


def written(line: str) -> Iterator[tuple[str, str]]:
    """A literal written to a file named like a secret; a .netrc password."""
    for match in _WRITTEN.finditer(line):
        base = match.group("path").strip("\"'").replace("\\", "/").rsplit("/", 1)[-1]
        if _SECRET_FILE.search(base.lstrip(".").replace(".", "_").replace("-", "_")):
            yield f"> {base}", unquote(match.group("v"))
    for match in _NETRC.finditer(line):
        yield "netrc password", match.group("v")


def _segments(line: str) -> Iterator[list[str]]:
    words: list[str] = []
    for token in _TOKEN.findall(line):
        if token in _SEPARATORS:
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


def _tool(word: str) -> str:
    base = unquote(word).replace("\\", "/").rsplit("/", 1)[-1].lower()
    return base.removesuffix(".exe")


def _next(args: list[str], i: int) -> str:
    return args[i + 1] if i + 1 < len(args) else ""


def _tool_flags(tool: str, args: list[str]) -> Iterator[tuple[str, str]]:
    login = "login" in args
    for i, arg in enumerate(args):
        word = unquote(arg)
        if tool in _MYSQL:
            if word.startswith("-p") and len(word) > 2:
                yield f"{tool} -p", word[2:]
        elif tool == "sshpass":
            if word == "-p":
                yield "sshpass -p", _next(args, i)
            elif word.startswith("-p") and len(word) > 2:
                yield "sshpass -p", word[2:]
        elif tool in _LOGIN and login and word in ("-p", "--password"):
            yield f"{tool} login {word}", _next(args, i)
        elif tool == "curl":
            if word in ("-u", "--user") or (word.startswith("-u") and len(word) > 2):
                userpass = unquote(_next(args, i)) if word in ("-u", "--user") else word[2:]
                if ":" in userpass:
                    yield "curl -u", userpass.partition(":")[2]
            elif word == "--oauth2-bearer":
                yield "curl --oauth2-bearer", _next(args, i)
            elif word in ("-H", "--header"):
                yield from _header("curl -H", unquote(_next(args, i)))
        elif tool == "wget" and word.startswith("--header="):
            yield from _header("wget --header", unquote(word.partition("=")[2]))
        elif tool == "redis-cli" and word in ("-a", "--pass"):
            yield f"redis-cli {word}", _next(args, i)
        elif tool in _MONGO and word in ("-p", "--password"):
            yield f"{tool} {word}", _next(args, i)
        elif tool in _SQLCMD:
            if word == "-P":
                yield f"{tool} -P", _next(args, i)
            elif word.startswith("-P") and len(word) > 2:
                yield f"{tool} -P", word[2:]
    yield from _positional(tool, args)


def _positional(tool: str, args: list[str]) -> Iterator[tuple[str, str]]:
    """Tools whose password is a positional argument: htpasswd -b, net user, aws configure
    set, choco apikey, nuget setapikey."""
    if tool == "htpasswd":
        flags_ = [unquote(a) for a in args if a.startswith("-")]
        positional = [a for a in args if not a.startswith("-")]
        if any("b" in f for f in flags_):
            need = 2 if any("n" in f for f in flags_) else 3
            if len(positional) >= need:
                yield "htpasswd -b", positional[need - 1]
    if tool in ("choco", "nuget") and args and unquote(args[0]).lower() in ("apikey", "setapikey"):
        if unquote(args[0]).lower() == "setapikey" and len(args) > 1:
            yield f"{tool} setapikey", args[1]
        for i, arg in enumerate(args):
            if unquote(arg) in ("--key", "-k", "--api-key"):
                yield f"{tool} apikey {unquote(arg)}", _next(args, i)
    if tool == "net" and len(args) >= 3 and unquote(args[0]).lower() == "user":
        password = unquote(args[2])
        if not password.startswith("/"):
            yield "net user", password
    aws_set = tool == "aws" and args[:2] == ["configure", "set"] and len(args) >= 4
    if aws_set and secret_name(args[2].rsplit(".", 1)[-1]):
        yield f"aws configure set {args[2]}", args[3]


def _header(where: str, header: str) -> Iterator[tuple[str, str]]:
    match = _HEADER.match(header.strip())
    if match and (
        match.group("name").lower() == "authorization" or secret_name(match.group("name"))
    ):
        yield f"{where} {match.group('name')}", match.group("v")


def _generic_flags(args: list[str]) -> Iterator[tuple[str, str]]:
    """--password=x, --db-password x, PowerShell -Password x / -SecretKey x."""
    for i, arg in enumerate(args):
        word = unquote(arg)
        if word.startswith("--") and len(word) > 3:
            name, eq, value = word[2:].partition("=")
            if secret_name(name):
                nxt = _next(args, i)
                yield f"--{name}", value if eq else ("" if nxt.startswith("-") else nxt)
        elif word.startswith("-") and len(word) >= 5 and word[1:].isalpha():
            name = _CAMEL.sub("_", word[1:])
            nxt = _next(args, i)
            if secret_name(name) and nxt and not nxt.startswith("-"):
                yield word, nxt


def flags(line: str) -> Iterator[tuple[str, str]]:
    """(tool and flag, value) for credentials passed on a command line."""
    for words in _segments(line):
        for k, word in enumerate(words):
            tool = _tool(word)
            args = words[k + 1 :]
            if tool in _TOOLS:
                yield from _tool_flags(tool, args)
                break
        yield from _generic_flags(words)

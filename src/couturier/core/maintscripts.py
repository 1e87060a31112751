"""Classify what a package's maintainer scripts and triggers would do, without running them.

:func:`script_actions` reads the control members of one ``.deb`` (``preinst``, ``postinst`` and
``triggers``; :attr:`couturier.assembly.deb.DebContents.scripts` holds them) and returns one
:class:`ScriptAction` per distinct thing they would change: an account, an alternative, a cache
to regenerate, a service to enable... Couturier never runs these scripts (Debian Policy
chapter 6 says when dpkg would); :mod:`couturier.core.replay` says, per action, whether the
build does the same natively or why it is not needed.

The shell is read simply, not interpreted: comments, here-documents and line continuations are
handled; each line is cut into simple commands at ``;``, ``&&``, ``||``, ``|``, ``(``, ``)`` and
command substitutions; leading keywords (``if``, ``then``, ``!``...) and ``case`` patterns are
skipped; functions the script defines are read where they are defined and their calls are
skipped, except a function that runs its arguments (``in_sysroot adduser ...``), whose calls
are read as the command they wrap. What the script makes statically knowable is expanded
(:class:`_Reader`): ``NAME=value`` assignments, ``for NAME in WORDS`` loops over literal words
(``for binary in php phar``, ``for i in $jre_tools``), and dpkg's ``DPKG_ROOT`` (empty) and
``DPKG_MAINTSCRIPT_PACKAGE`` (dpkg(1), ENVIRONMENT); a detail that stays unknown (a command's
output, the script's arguments) is said in words, "registers alternatives (names computed at
install time)", never as ``$i``. Every branch counts (install, upgrade and abort paths alike,
every value a variable is given), so the list says what a script *may* do. A command that
changes the system and is not known here is reported as class ``unknown`` naming it: nothing is
dropped silently. Only ``preinst`` and ``postinst`` are read among the scripts
(``prerm``/``postrm`` run on removal, which an image never sees); ``triggers`` lines follow
deb-triggers(5). debhelper's generated snippets (``# Automatically added by dh_...``, such as
dh_installsysusers' ``systemd-sysusers foo.conf``) are ordinary shell here.

Pure: works on the bytes handed to it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from couturier.core.shellwords import commands, logical_lines

__all__ = ["CLASSES", "SCRIPTS", "ScriptAction", "computed", "script_actions"]

# The control members read, in the order dpkg runs them on a fresh install.
SCRIPTS = ("preinst", "postinst", "triggers")

# Action class → what it means, in words (the audit document's headings).
CLASSES: Mapping[str, str] = {
    "accounts": "adds system users and groups (adduser, useradd, addgroup, groupadd, "
    "systemd-sysusers)",
    "alternatives": "registers update-alternatives links",
    "apache-modules": "enables Apache modules, sites and configurations (a2enmod, a2ensite)",
    "apparmor": "loads AppArmor profiles into the kernel (apparmor_parser)",
    "binfmt": "registers binary formats with the kernel (update-binfmts)",
    "ca-certificates": "rebuilds the system CA bundle (update-ca-certificates)",
    "cache:desktop": "rebuilds the desktop entry cache (update-desktop-database)",
    "cache:fontconfig": "rebuilds the font cache (fc-cache)",
    "cache:gdk-pixbuf": "rebuilds the gdk-pixbuf loader cache",
    "cache:gio-modules": "rebuilds the GIO module cache (gio-querymodules)",
    "cache:glib-schemas": "compiles GSettings schemas (glib-compile-schemas)",
    "cache:icons": "rebuilds icon caches (gtk-update-icon-cache)",
    "cache:info": "updates the info directory (install-info)",
    "cache:man": "rebuilds the man page index (mandb)",
    "cache:mime": "rebuilds the shared MIME database (update-mime-database)",
    "cleanup": "removes files (rm, rmdir, find -delete)",
    "conffile-moves": "moves or removes conffiles of earlier versions (dpkg-maintscript-helper)",
    "conffiles": "installs configuration files from templates (ucf, ucfr)",
    "debconf": "asks debconf questions (db_*, confmodule)",
    "directories": "creates directories, sets owners and modes (mkdir, install -d, chown, chmod)",
    "diversions": "diverts paths (dpkg-divert)",
    "files": "writes or copies files (cp, mv, touch, install, sed -i, redirections)",
    "java-truststore": "rebuilds the Java trust store (ca-certificates-java)",
    "ldconfig": "rebuilds the dynamic loader cache (ldconfig)",
    "links": "creates symbolic links (ln)",
    "locales": "generates locales (locale-gen, localedef, update-locale)",
    "php-modules": "enables PHP modules (phpenmod, php_invoke)",
    "python-bytecode": "byte-compiles Python modules (py3compile, py_compile, compileall)",
    "selinux": "relabels files for SELinux (restorecon)",
    "service": "enables, starts or reloads a service (systemctl, invoke-rc.d, update-rc.d)",
    "statoverride": "records owner and mode overrides (dpkg-statoverride)",
    "tmpfiles": "creates runtime files and directories (systemd-tmpfiles)",
    "triggers": "activates or handles dpkg triggers of other packages",
    "unknown": "runs a command Couturier does not know",
}


@dataclass(frozen=True, order=True)
class ScriptAction:
    """One thing a maintainer script would do.

    ``action`` is a key of :data:`CLASSES`; ``script`` the control member it comes from
    (``postinst``); ``detail`` what it acts on (a user name, an alternative's name, a path, a
    command name; empty when nothing more is known); ``sentence`` says it in words, to follow
    "<package>: <script> " ("adds the system user postgres").
    """

    action: str
    script: str
    detail: str
    sentence: str


# Commands that only read, test or steer the shell: they change nothing on the system.
_HARMLESS = frozenset(
    """
    : . [ [[ ]] true false test echo printf exit return set shift local export unset read
    readonly break continue wait trap exec umask cd pwd type which command hash getopts
    cat grep egrep fgrep zgrep sed awk mawk gawk cut tr sort uniq head tail wc basename dirname
    readlink realpath stat ls cmp diff md5sum sha1sum sha256sum expr seq sleep uname id getent
    dpkg-query dpkg-architecture dpkg-vendor mountpoint mktemp tty logger date printenv env
    nice nohup timeout xargs tee find head pidof ischroot systemd-detect-virt kill
    ucfq phpquery lsb_release error warning print sha512sum sha384sum od hexdump file
    fold base64 ps pgrep nproc whoami groups cksum tac rev nl paste join comm fmt column iconv
    zcat xzcat bzcat strings getcap ypwhich ypcat aa-enabled testparm slapcat alias netstat ss
    a2query apache2_msg named-checkconf
    """.split()  # noqa: SIM905 - a list of command names reads best as one
)
# Shell words that start or end a compound command; skipped before the command word.
_KEYWORDS = frozenset(
    "if then else elif fi do done while until for case esac in ! { } time function".split()  # noqa: SIM905
)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_FUNCTION = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_.:-]*)\s*\(\s*\)")
_FUNCTION_KW = re.compile(r"^\s*function\s+([A-Za-z_][A-Za-z0-9_.:-]*)")
_PATTERN_WORD = r"""(?:"[^"]*"|'[^']*'|[^\s()|"'])+"""
_CASE_PATTERN = re.compile(rf"^\s*\(?\s*{_PATTERN_WORD}(?:\s*\|\s*{_PATTERN_WORD})*\s*\)(?!\))")
_NON_FILES = ("/dev/null", "/dev/stderr", "/dev/stdout", "/dev/tty")

# Commands → action class (their arguments give the detail).
_COMMANDS: Mapping[str, str] = {
    command: action
    for action, names in {
        "alternatives": "update-alternatives",
        "ldconfig": "ldconfig",
        "locales": "locale-gen localedef update-locale",
        "cache:fontconfig": "fc-cache",
        "cache:gdk-pixbuf": "gdk-pixbuf-query-loaders",
        "cache:glib-schemas": "glib-compile-schemas",
        "cache:gio-modules": "gio-querymodules",
        "cache:mime": "update-mime-database",
        "cache:desktop": "update-desktop-database",
        "cache:icons": "gtk-update-icon-cache update-icon-caches",
        "cache:info": "install-info update-info-dir",
        "cache:man": "mandb",
        "python-bytecode": "py3compile pycompile py3clean pyclean pypy3compile pypycompile",
        "php-modules": "phpenmod phpdismod php_invoke",
        "ca-certificates": "update-ca-certificates",
        "service": "systemctl deb-systemd-helper deb-systemd-invoke invoke-rc.d update-rc.d "
        "service start-stop-daemon udevadm systemd-sysctl sysctl apache2_reload dbus-send "
        "notify-reboot-required",
        "tmpfiles": "systemd-tmpfiles",
        "binfmt": "update-binfmts",
        "selinux": "restorecon setfiles",
        "apparmor": "apparmor_parser aa-complain aa-enforce",
        "apache-modules": "a2enmod a2dismod a2ensite a2dissite a2enconf a2disconf "
        "apache2_invoke apache2_switch_mpm",
        "java-truststore": "keytool java",
        "conffiles": "ucf ucfr",
        "conffile-moves": "dpkg-maintscript-helper",
        "diversions": "dpkg-divert",
        "statoverride": "dpkg-statoverride",
        "triggers": "dpkg-trigger",
        "accounts": "adduser addgroup useradd groupadd usermod groupmod gpasswd systemd-sysusers",
        "directories": "mkdir chown chgrp chmod",
        "links": "ln",
        "files": "cp mv touch",
        "cleanup": "rm rmdir unlink",
    }.items()
    for command in names.split()
}
_SENTENCES: Mapping[str, str] = {
    "alternatives": "registers the alternative {detail}",
    "ldconfig": "runs ldconfig",
    "locales": "generates locales ({detail})",
    "python-bytecode": "byte-compiles Python modules",
    "php-modules": "enables PHP modules",
    "ca-certificates": "rebuilds the CA bundle",
    "java-truststore": "rebuilds the Java trust store",
    "service": "sets up the service {detail}",
    "selinux": "relabels {detail} for SELinux",
    "apache-modules": "configures Apache ({detail})",
    "apparmor": "loads the AppArmor profile {detail}",
    "tmpfiles": "creates runtime directories (systemd-tmpfiles)",
    "binfmt": "registers a binary format ({detail})",
    "conffiles": "installs the configuration file {detail}",
    "conffile-moves": "moves conffiles of earlier versions ({detail})",
    "diversions": "diverts {detail}",
    "statoverride": "overrides the owner or mode of {detail}",
    "triggers": "activates the trigger {detail}",
    "directories": "creates or changes the owner or mode of {detail}",
    "links": "creates the link {detail}",
    "files": "writes {detail}",
    "cleanup": "removes {detail}",
    "debconf": "asks debconf questions",
    "unknown": "runs {detail}",
}
# The sentences of actions whose detail is computed at install time (a variable the script
# sets from a command's output or its arguments): what is known, in words.
_COMPUTED_SENTENCES: Mapping[str, str] = {
    "alternatives": "registers alternatives (names computed at install time)",
    "locales": "generates locales (names computed at install time)",
    "service": "sets up a service (name computed at install time)",
    "selinux": "relabels files for SELinux (paths computed at install time)",
    "apache-modules": "configures Apache (modules computed at install time)",
    "apparmor": "loads an AppArmor profile (path computed at install time)",
    "binfmt": "registers a binary format (name computed at install time)",
    "conffiles": "installs a configuration file (path computed at install time)",
    "conffile-moves": "moves conffiles of earlier versions (paths computed at install time)",
    "diversions": "diverts a path (computed at install time)",
    "statoverride": "overrides the owner or mode of a path (computed at install time)",
    "triggers": "activates a trigger (name computed at install time)",
    "directories": "creates or changes the owner or mode of a directory (path computed at "
    "install time)",
    "links": "creates a link (path computed at install time)",
    "files": "writes a file (path computed at install time)",
    "cleanup": "removes files (paths computed at install time)",
    "unknown": "runs a command (computed at install time)",
}
# Options of adduser/useradd/addgroup/groupadd that take a value.
_ACCOUNT_VALUE_OPTIONS = frozenset(
    """
    --home --shell --gecos --comment --uid --gid --ingroup --firstuid --lastuid --firstgid
    --lastgid --conf --add_extra_groups --add-extra-groups --extrausers -d -s -c -u -g -G -k -K
    -p -e -f -b
    """.split()  # noqa: SIM905
)

# "$quiet", "${OPTS}": a variable that holds options, not a name.
_OPTION_VARIABLE = re.compile(r"^\$\{?[A-Za-z_]*(quiet|QUIET|opt|OPT|verbose|VERBOSE|flags)")

# Trigger names (deb-triggers(5)): exact names and path prefixes → action class.
_TRIGGER_NAMES: Mapping[str, str] = {
    "ldconfig": "ldconfig",
    "update-ca-certificates": "ca-certificates",
    "update-ca-certificates-fresh": "ca-certificates",
    "update-ca-certificates-java": "java-truststore",
    "update-ca-certificates-java-fresh": "java-truststore",
}
_TRIGGER_PATHS: tuple[tuple[str, str], ...] = (
    (r"^/usr/share/glib-2\.0/schemas", "cache:glib-schemas"),
    (r"^/usr/lib/[^/]+/gio/modules", "cache:gio-modules"),
    (r"/gdk-pixbuf-2\.0/", "cache:gdk-pixbuf"),
    (r"^/usr/share/mime/packages", "cache:mime"),
    (r"/fonts(/|$)|^/etc/fonts", "cache:fontconfig"),
    (r"^/usr/share/applications", "cache:desktop"),
    (r"^/usr/share/icons", "cache:icons"),
    (r"^/usr/share/man", "cache:man"),
    (r"^/usr/share/info", "cache:info"),
    (r"^/etc/php/[^/]+/[^/]+/conf\.d|^/etc/php/[^/]+/mods-available", "php-modules"),
    (r"^/usr/lib/(sysctl\.d|systemd|udev)|^/lib/(systemd|udev)", "service"),
    (r"^/usr/lib/tmpfiles\.d", "tmpfiles"),
    (r"^/usr/lib/binfmt\.d|^/usr/share/binfmts", "binfmt"),
    (r"^/usr/(lib32|lib64|libx32|libo32)$", "links"),
    (r"^/usr/share/python3/runtime\.d|^/usr/lib/python3", "python-bytecode"),
    (r"^/usr/lib/ssl/certs|^/usr/share/ca-certificates", "ca-certificates"),
)


def script_actions(package: str, members: Mapping[str, bytes]) -> tuple[ScriptAction, ...]:
    """The distinct actions of ``package``'s ``preinst``, ``postinst`` and ``triggers``
    (``members`` maps a control member's name to its bytes; others are ignored), sorted.

    Never raises: text that cannot be tokenized is read word by word. Cost: linear in the size
    of the scripts. A script that is not a shell script (``#!/usr/bin/perl``) is one ``unknown``
    action naming its interpreter.
    """
    found: set[ScriptAction] = set()
    for script in SCRIPTS:
        blob = members.get(script)
        if blob is None:
            continue
        text = blob.decode("utf-8", "replace")
        if script == "triggers":
            found.update(_trigger_actions(text))
        else:
            found.update(_shell_actions(script, text, package))
    return tuple(sorted(found))


def _action(action: str, script: str, detail: str = "") -> ScriptAction:
    """``detail`` said in the class's sentence; a detail only the running script knows
    (:func:`computed`) is said in words (:data:`_COMPUTED_SENTENCES`), never as ``$i``."""
    if computed(detail):
        sentence = _COMPUTED_SENTENCES.get(action, CLASSES[action].split(" (")[0])
        return ScriptAction(action, script, detail, sentence)
    template = _SENTENCES.get(action, CLASSES[action].split(" (")[0])
    sentence = template.format(detail=detail or "files").replace(" ()", "")
    return ScriptAction(action, script, detail, sentence)


def _trigger_class(name: str) -> str | None:
    """The class of what a trigger's interested package does, by the trigger's name or path."""
    if name.startswith("/"):
        return next((a for p, a in _TRIGGER_PATHS if re.search(p, name)), None)
    return _TRIGGER_NAMES.get(name)


def _trigger_actions(text: str) -> Iterator[ScriptAction]:
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        directive, name = words[0], words[1]
        action = _trigger_class(name)
        kind = "handles" if directive.startswith("interest") else "activates"
        if action is None:
            action = "triggers"
        if action == "triggers":
            yield ScriptAction(action, "triggers", name, f"{kind} the trigger {name}")
        else:
            sentence = f"{kind} the trigger {name} ({CLASSES[action].split(' (')[0]})"
            yield ScriptAction(action, "triggers", name, sentence)


def _shell_actions(script: str, text: str, package: str) -> Iterator[ScriptAction]:
    first = text.split("\n", 1)[0]
    if first.startswith("#!") and not re.search(r"\b(sh|bash|dash)\b", first):
        yield _action("unknown", script, first[2:].strip().split()[0])
        return
    yield from _Reader(script, package, text).actions()


# "$NAME", "${NAME}", "${NAME:-word}", "${NAME:+word}" (and without the colon); "$1", "$@"...
_REFERENCE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+=])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
# What stays unknown after expansion: a variable, a parameter or a command substitution.
_COMPUTED = re.compile(r"\$(?:[A-Za-z_0-9@*#?!{]|\(\.\.\.\))")
# At most this many bindings of a command's many-valued variables are tried; beyond, the
# variables left over stay unknown (cost stays linear in the script).
_MAX_BINDINGS = 64
# A variable with more values than this, an expansion longer than _MAX_TEXT characters and a
# chain of variables deeper than _MAX_DEPTH are unknown: a hostile script stays cheap to read.
_MAX_VALUES = 64
_MAX_TEXT = 4096
_MAX_DEPTH = 16


def computed(detail: str) -> bool:
    """Whether ``detail`` still names a variable, a parameter or a command substitution that
    only the running script would know (``$i``, ``${binary}``, ``$@``, ``$(...)``)."""
    return bool(_COMPUTED.search(detail))


class _Reader:
    """One shell script read in order, with what it makes statically knowable.

    Variables: a plain ``NAME=value`` (also after ``export``, ``local``, ``readonly``) records
    ``value`` as one value ``$NAME`` may have; every assignment counts, as every branch does,
    so a variable set to ``a`` in one branch and ``b`` in another has both values. A ``for NAME
    in WORDS`` loop gives NAME each word (variables in the words expanded, then split on
    blanks, as sh does for unquoted words). A value from a command substitution, ``read`` or
    the script's arguments is unknown: the reference stays as written and the sentence says the
    detail is computed at install time. ``DPKG_ROOT`` is empty and ``DPKG_MAINTSCRIPT_PACKAGE``
    the package, as dpkg sets them on a normal install (dpkg(1), ENVIRONMENT: "during normal
    operation, this variable is empty").

    Bounds, so that a hostile script stays cheap to read: a variable given more than
    :data:`_MAX_VALUES` values, an expansion longer than :data:`_MAX_TEXT` characters and a
    chain of variables deeper than :data:`_MAX_DEPTH` are unknown; at most
    :data:`_MAX_BINDINGS` choices of values are tried per command.

    Functions: their bodies are read where they are defined and their calls are skipped; a
    function that runs its arguments (``"$@"``, also through ``chroot DIR "$@"``), as
    dbus-system-bus-common's ``in_sysroot``, is a wrapper: a call to it is read as the command
    it wraps.
    """

    def __init__(self, script: str, package: str, text: str) -> None:
        self.script = script
        self.package = package
        self.lines = list(logical_lines(text))
        self.functions = {
            m.group(1)
            for line in self.lines
            if (m := _FUNCTION.match(line) or _FUNCTION_KW.match(line))
        }
        self.wrappers: set[str] = set()
        # name → the values it may have, as written (expanded when used), or None: unknown.
        self.variables: dict[str, tuple[str, ...] | None] = {
            "DPKG_ROOT": ("",),
            "DPKG_MAINTSCRIPT_PACKAGE": (package,),
        }
        self.overflowed: set[str] = set()
        self.defining: list[tuple[str, int]] = []  # functions being read, with their depth
        self.depth = 0  # of { } groups
        self.case_depth = 0

    def actions(self) -> Iterator[ScriptAction]:
        for line in self.lines:
            body = line
            definition = _FUNCTION.match(body) or _FUNCTION_KW.match(body)
            if definition:
                body = body[definition.end() :]
                self.defining.append((definition.group(1), self.depth))
            if (
                self.case_depth
                and (pattern := _CASE_PATTERN.match(body))
                and "=" not in pattern.group(0)
            ):
                body = body[pattern.end() :]
            for command in commands(body):
                yield from self._command(command)

    # -- reading one simple command ------------------------------------------------------------

    def _command(self, command: list[str]) -> Iterator[ScriptAction]:
        index = 0
        while index < len(command) and command[index] in _KEYWORDS:
            word = command[index]
            if word == "{":
                self.depth += 1
            elif word == "}":
                self.depth = max(0, self.depth - 1)
                if self.defining and self.defining[-1][1] == self.depth:
                    self.defining.pop()
            elif word in ("for", "select"):
                self._loop(command[index + 1 :])
                return
            elif word == "case":
                self.case_depth += 1
                return
            elif word == "esac":
                self.case_depth = max(0, self.case_depth - 1)
            index += 1
        words = command[index:]
        if words and words[0] in ("export", "local", "readonly", "declare", "typeset"):
            for word in words[1:]:
                if _ASSIGNMENT.match(word):
                    self._assign(word)
                elif words[0] not in ("export", "readonly"):
                    self._forget(word)  # "local x": a new variable, unset
            return
        if words and all(_ASSIGNMENT.match(word) for word in words):
            for word in words:
                self._assign(word)
            return
        if words and words[0] == "read":
            for word in words[1:]:
                self._forget(word)
        for expanded in self._expansions(command[:index] + words):
            yield from _command_actions(self.script, expanded, self)

    def _assign(self, word: str) -> None:
        name, _, value = word.partition("=")
        name = name.rstrip("+")
        if "[" in name:
            return
        if "$(...)" in value:
            self.variables[name] = None  # a command's output: known only at install time
        else:
            known = self.variables.get(name)
            values = tuple(dict.fromkeys((*known, value))) if known else (value,)
            if len(values) > _MAX_VALUES or name in self.overflowed:
                self.overflowed.add(name)  # too many to try: unknown from now on
                self.variables[name] = None
            else:
                self.variables[name] = values

    def _forget(self, name: str) -> None:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.variables[name] = None

    def _loop(self, words: list[str]) -> None:
        """``for NAME in WORDS``: NAME takes each word; without ``in``, the arguments."""
        if not words or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", words[0]):
            return
        name = words[0]
        if len(words) < 2 or words[1] != "in":
            self.variables[name] = None
            return
        values: list[str] = []
        for word in words[2:]:
            for text in self._values(word):
                if computed(text):
                    self.variables[name] = None
                    return
                values += text.split()
        unique = tuple(dict.fromkeys(values))
        self.variables[name] = unique if len(unique) <= _MAX_VALUES else None

    # -- expansion -------------------------------------------------------------------------

    def _references(self, text: str) -> list[str]:
        """The many-valued variables ``text`` names, also through the values of others (each
        variable looked at once, at most :data:`_MAX_DEPTH` deep)."""
        found: dict[str, None] = {}
        visited: set[str] = set()
        pending = [(text, 0)]
        while pending:
            current, depth = pending.pop()
            if depth > _MAX_DEPTH:
                continue
            for match in _REFERENCE.finditer(current):
                name = match.group(1) or match.group(4)
                if match.group(3):
                    pending.append((match.group(3), depth + 1))
                values = self.variables.get(name)
                if name in visited or not values:
                    continue
                visited.add(name)
                if len(values) > 1:
                    found[name] = None
                pending += [(value, depth + 1) for value in values]
        return list(found)

    def _bindings(self, text: str) -> list[dict[str, str]]:
        """Each choice of one value for every many-valued variable ``text`` names (at most
        :data:`_MAX_BINDINGS`; variables beyond stay unknown)."""
        bindings: list[dict[str, str]] = [{}]
        for name in self._references(text):
            values = self.variables.get(name) or ()
            if len(bindings) * len(values) > _MAX_BINDINGS:
                continue
            bindings = [{**binding, name: value} for binding in bindings for value in values]
        return bindings

    def _expand(self, text: str, binding: dict[str, str]) -> str:
        """``text`` with every variable known under ``binding`` replaced; the others, and any
        that would grow beyond :data:`_MAX_TEXT` characters, stay as written."""
        return self._expand_in(text, binding, {}, ())

    def _expand_in(
        self,
        text: str,
        binding: dict[str, str],
        memo: dict[str, str | None],
        stack: tuple[str, ...],
    ) -> str:
        if len(stack) > _MAX_DEPTH:
            return text

        def value_of(name: str) -> str | None:
            if name in memo:
                return memo[name]
            values = self.variables.get(name)
            if not values or (len(values) > 1 and name not in binding):
                return None
            memo[name] = None  # a variable defined through itself stays unknown
            value = binding.get(name, values[0])
            result = self._expand_in(value, binding, memo, (*stack, name))
            memo[name] = result if len(result) <= _MAX_TEXT else None
            return memo[name]

        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(4)
            value = value_of(name)
            if value is None:
                return match.group(0)
            operator, word = match.group(2), match.group(3)
            if operator is None:
                return value
            word = word.replace('"', "").replace("'", "")
            word = self._expand_in(word, binding, memo, (*stack, name))
            empty = value == "" if operator.startswith(":") else False
            if operator.endswith("+"):
                return "" if empty else word
            return word if empty else value

        result = _REFERENCE.sub(one, text)
        return result if len(result) <= _MAX_TEXT else text

    def _values(self, word: str) -> list[str]:
        """The texts ``word`` may expand to."""
        return list(dict.fromkeys(self._expand(word, b) for b in self._bindings(word)))

    def _expansions(self, words: list[str]) -> Iterator[list[str]]:
        """``words`` with the variables expanded, once per binding of the many-valued ones.
        A word that was one variable reference is split on blanks; one that expands to
        nothing is dropped, as sh drops an unquoted empty expansion."""
        seen: set[tuple[str, ...]] = set()
        for binding in self._bindings(" ".join(words)):
            expanded: list[str] = []
            for word in words:
                text = self._expand(word, binding)
                if text == word:
                    expanded.append(word)
                elif _REFERENCE.fullmatch(word):
                    expanded += text.split()
                elif text:
                    expanded.append(text)
            if tuple(expanded) not in seen:
                seen.add(tuple(expanded))
                yield expanded

    # -- functions ---------------------------------------------------------------------------

    def runs_arguments(self) -> None:
        """The function being read runs ``"$@"``: its calls are read as the command they wrap."""
        if self.defining:
            self.wrappers.add(self.defining[-1][0])


def _command_actions(script: str, command: list[str], reader: _Reader) -> Iterator[ScriptAction]:
    words, redirects = _split_redirects(command)
    found = list(_word_actions(script, _strip_prefix(words), reader))
    yield from found
    if any(action.action != "unknown" for action in found):
        return  # the output of a known action (fc-cache's log) is part of that action
    for target in redirects:
        if target and not target.startswith(_NON_FILES) and target not in ("]", "]]"):
            yield _action("files", script, target)


def _word_actions(script: str, words: list[str], reader: _Reader) -> Iterator[ScriptAction]:
    """The actions of one simple command, its redirections left out."""
    if not words:
        return
    name = words[0]
    args = words[1:]
    if name in ("for", "select"):
        return  # "for x in a b c": the list is data
    if name.startswith("db_") or (name in (".", "source") and args and "debconf" in args[0]):
        yield _action("debconf", script)
        return
    if name in ("$@", "$*") and reader.defining:
        reader.runs_arguments()
        return
    if name in reader.wrappers:
        yield from _word_actions(script, args, reader)
        return
    if name in reader.functions or name.isdigit() or name in ("{}", "((", "[", "]", "]]"):
        return
    if name in (".", "source"):
        return  # reads settings or defines functions; the calls that follow are classified
    if name == "su" and "-c" in args and args.index("-c") + 1 < len(args):
        yield from _shell_actions(script, args[args.index("-c") + 1], reader.package)
        return
    if name == "chroot":
        # chroot [OPTION]... NEWROOT [COMMAND [ARG]...]: the command is what runs.
        # NEWROOT "$DPKG_ROOT" expands to nothing on a normal install: "$@" is then first.
        operands = [a for a in args if not a.startswith("-")]
        if operands and operands[0] in ("$@", "$*"):
            operands.insert(0, "")
        if len(operands) > 1:
            yield from _word_actions(
                script, operands[1:2] + args[args.index(operands[1]) + 1 :], reader
            )
        else:
            yield _action("unknown", script, "chroot")
        return
    base = posixpath.basename(name) if "/" in name and not name.startswith("$") else name
    yield from _classify(script, base, args, name, reader)


def _split_redirects(command: list[str]) -> tuple[list[str], list[str]]:
    """The command's words without redirections, and the files its output goes to."""
    words: list[str] = []
    targets: list[str] = []
    skip = False
    for position, word in enumerate(command):
        if skip:
            skip = False
            continue
        if word and word[0] in "<>" and set(word) <= set("<>&|"):
            skip = True  # the operator's operand: a file, a descriptor or a delimiter
            if words and words[-1].isdigit():
                words.pop()  # "2>" names a descriptor, not an argument
            following = command[position + 1] if position + 1 < len(command) else ""
            if word.startswith(">") and "&" not in word:
                targets.append(following)
        else:
            words.append(word)
    return words, targets


def _strip_prefix(words: list[str]) -> list[str]:
    """Drop keywords, assignments and wrappers (``env``, ``nice``...) before the command."""
    index = 0
    while index < len(words):
        word = words[index]
        if (word in _KEYWORDS and word not in ("for", "case")) or _ASSIGNMENT.match(word):
            index += 1
        elif word in ("exec", "nohup", "nice", "env", "command") and index + 1 < len(words):
            if word == "command" and words[index + 1].startswith("-"):
                return []  # command -v: a lookup
            index += 1
        else:
            break
    return words[index:]


# Options of mkdir, install, chmod, ln... that take a value.
_VALUE_OPTIONS = frozenset({"-m", "-o", "-g", "--mode", "--owner", "--group", "-t", "-S"})


def _operands(args: Sequence[str], value_options: frozenset[str] = _VALUE_OPTIONS) -> list[str]:
    """The arguments that are not options nor the values of ``value_options`` (``-``, standard
    input, is an operand)."""
    found: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in value_options:
            skip = True
        elif not arg.startswith("-") or arg == "-":
            found.append(arg)
    return found


def _first_operand(args: Sequence[str]) -> str:
    return next(iter(_operands(args)), "")


def _classify(
    script: str, base: str, args: list[str], name: str, reader: _Reader
) -> Iterator[ScriptAction]:
    if base in _HARMLESS:
        if base == "sed" and any(a.startswith("-i") or a == "--in-place" for a in args):
            yield _action("files", script, args[-1] if args else "")
        elif base == "find" and "-delete" in args:
            yield _action("cleanup", script, _first_operand(args))
        elif base == "find" and ("-exec" in args or "-execdir" in args):
            start = args.index("-exec" if "-exec" in args else "-execdir") + 1
            rest = args[start:]
            rest = rest[: next((i for i, a in enumerate(rest) if a in (";", "+")), len(rest))]
            if rest:
                yield from _classify(script, posixpath.basename(rest[0]), rest[1:], rest[0], reader)
        elif base == "tee" and _operands(args):
            yield _action("files", script, _first_operand(args))
        elif base in ("xargs", "timeout", "nice", "nohup", "env"):
            rest = _wrapped(base, args)
            if rest:
                yield from _classify(script, posixpath.basename(rest[0]), rest[1:], rest[0], reader)
        return
    if base == "hostname" and not _operands(args):
        return  # prints the name; with an operand it would set it
    if base in ("sh", "bash", "dash"):
        if "-c" in args and args.index("-c") + 1 < len(args):
            yield from _shell_actions(script, args[args.index("-c") + 1], reader.package)
        else:
            yield _action("unknown", script, " ".join([base, *args[:1]]))
        return
    if base in ("dpkg",):
        if any(a in ("-i", "--install", "--unpack", "--configure", "-r", "--purge") for a in args):
            yield _action("unknown", script, "dpkg " + " ".join(args[:2]))
        return
    if re.fullmatch(r"python3(\.[0-9]+)?", base):
        if any("py_compile" in a or "compileall" in a for a in args):
            yield _action("python-bytecode", script)
        else:
            yield _action("unknown", script, base)
        return
    if base in ("install",):
        if "-d" in args or "--directory" in args:
            yield _action("directories", script, _last_operand(args))
        else:
            yield _action("files", script, _last_operand(args))
        return
    action = _COMMANDS.get(base)
    if action is None:
        yield _action("unknown", script, name)
    else:
        yield from _table_action(script, action, base, args, reader.package)


def _table_action(
    script: str, action: str, base: str, args: Sequence[str], package: str
) -> Iterator[ScriptAction]:
    """The action of a command of :data:`_COMMANDS`, with its detail taken from ``args``."""
    if action == "accounts" and base == "systemd-sysusers":
        yield from _sysusers_actions(script, args, package)
    elif action == "accounts":
        yield _account_action(script, base, args)
    elif action == "alternatives":
        alternative = _alternative_action(script, args)
        if alternative is not None:
            yield alternative
    elif action in ("statoverride", "diversions") and any(
        a in ("--list", "--listpackage", "--truename") for a in args
    ):
        return  # queries
    elif action in ("directories", "cleanup", "files", "links", "statoverride", "diversions"):
        yield _action(action, script, _path_operand(base, args))
    elif action == "conffiles":
        yield _action(action, script, _last_operand(args))
    elif action == "conffile-moves":
        yield _action(action, script, _first_operand(args))
    elif action == "service":
        yield _action(action, script, _service_name(base, args))
    elif action == "triggers":
        name = _first_operand(args)  # dpkg-trigger NAME
        mapped = _trigger_class(name)
        if mapped is None or computed(name):
            yield _action(action, script, name)
        else:
            what = CLASSES[mapped].split(" (")[0]
            yield ScriptAction(mapped, script, name, f"activates the trigger {name} ({what})")
    elif action == "tmpfiles":
        # systemd-tmpfiles --create foo.conf (dh_installtmpfiles): the tmpfiles.d file named.
        names = [posixpath.basename(a) for a in _operands(args) if not computed(a)]
        for name in names:
            sentence = f"creates the runtime files of tmpfiles.d/{name} (systemd-tmpfiles)"
            yield ScriptAction(action, script, name, sentence)
        if not names:
            yield _action(action, script)
    elif action == "locales":
        yield _action(action, script, base)
    elif action == "apache-modules":
        yield _action(action, script, " ".join([base, *_operands(args)]))
    elif action in ("apparmor", "binfmt"):
        yield _action(action, script, _last_operand(args))
    else:
        yield _action(action, script)


def _wrapped(base: str, args: Sequence[str]) -> list[str]:
    """The command that ``xargs``, ``timeout``, ``env``... run, with its arguments."""
    valued = {"-I", "-n", "-d", "-P", "-L", "-s", "-E", "-a", "-u", "-k", "-S", "--signal"}
    index = 0
    while index < len(args) and (args[index].startswith("-") or _ASSIGNMENT.match(args[index])):
        index += 2 if args[index] in valued else 1
    if base == "timeout":
        index += 1  # the duration
    return list(args[index:])


def _last_operand(args: Sequence[str]) -> str:
    operands = _operands(args)
    return operands[-1] if operands else ""


def _path_operand(base: str, args: Sequence[str]) -> str:
    operands = _operands(args)
    if base in ("chown", "chgrp", "chmod") and len(operands) > 1:
        return operands[-1]  # owner or mode first
    if base in ("ln", "cp", "mv") and len(operands) > 1:
        return operands[-1]  # the destination
    if base == "dpkg-statoverride":
        return operands[-1] if "--add" in args and operands else ""
    if base == "dpkg-divert":
        return operands[-1] if operands else ""
    return operands[0] if operands else ""


def _service_name(base: str, args: Sequence[str]) -> str:
    operands = [a for a in args if not a.startswith("-")]
    if base in ("systemctl", "deb-systemd-helper", "deb-systemd-invoke") and len(operands) > 1:
        return operands[1]
    if base in ("invoke-rc.d", "update-rc.d", "service") and operands:
        return operands[0]
    return base


def _account_action(script: str, base: str, args: Sequence[str]) -> ScriptAction:
    """``adduser --system ... NAME`` → the system user NAME; ``adduser USER GROUP`` → USER
    joins GROUP; ``addgroup``/``groupadd``/``adduser --group`` alone → a group."""
    operands = [
        arg
        for arg in _operands(args, _ACCOUNT_VALUE_OPTIONS)
        if arg != "-" and not _OPTION_VARIABLE.match(arg)
    ]
    group_only = base in ("addgroup", "groupadd", "groupmod") or (
        base == "adduser" and "--group" in args and "--system" not in args
    )
    if any(computed(operand) for operand in operands[-2:]):
        return ScriptAction(
            "accounts", script, operands[-1], "adds an account (name computed at install time)"
        )
    if base in ("usermod", "gpasswd") or (base == "adduser" and len(operands) == 2):
        user, group = [*operands, "", ""][:2]
        if base == "usermod":
            user = operands[-1] if operands else ""
            group = ""
        detail = f"{user}:{group}" if group else user
        sentence = f"adds {user} to the group {group}" if group else f"changes the user {user}"
        return ScriptAction("accounts", script, detail, sentence)
    name = operands[-1] if operands else ""
    kind = "group" if group_only else "user"
    system = "system " if "--system" in args or "-r" in args or "--system-group" in args else ""
    return ScriptAction("accounts", script, name, f"adds the {system}{kind} {name}")


def _sysusers_actions(script: str, args: Sequence[str], package: str) -> Iterator[ScriptAction]:
    """``systemd-sysusers [--root=R] [FILE...]`` (what dh_installsysusers writes, with the
    package's ``foo.conf``): one action per file named, detail the file's name, said as
    ``adds the accounts declared in sysusers.d/foo.conf``; ``--inline`` lines of
    sysusers.d(5) (``u NAME ...``, ``g NAME ...``, ``m USER GROUP``) name the accounts
    themselves; with no file, every sysusers.d file is read, said with ``package``'s name.
    """
    operands = [a for a in args if not a.startswith("-")]
    if "--inline" in args:
        for line in operands:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "m":
                sentence = f"adds {fields[1]} to the group {fields[2]}"
                yield ScriptAction("accounts", script, f"{fields[1]}:{fields[2]}", sentence)
            elif len(fields) >= 2 and fields[0] in ("u", "g"):
                kind = "user" if fields[0] == "u" else "group"
                sentence = f"adds the system {kind} {fields[1]}"
                yield ScriptAction("accounts", script, fields[1], sentence)
        return
    for operand in operands:
        name = posixpath.basename(operand)
        if computed(operand):
            sentence = (
                "adds the accounts declared in a sysusers.d file (name computed at install time)"
            )
            yield ScriptAction("accounts", script, operand, sentence)
        else:
            sentence = f"adds the accounts declared in sysusers.d/{name} (systemd-sysusers)"
            yield ScriptAction("accounts", script, name, sentence)
    if not operands:
        sentence = (
            f"adds the accounts declared in sysusers.d (every file there, {package}'s among "
            "them; systemd-sysusers)"
        )
        yield ScriptAction("accounts", script, "", sentence)


def _alternative_action(script: str, args: Sequence[str]) -> ScriptAction | None:
    """``--install LINK NAME PATH PRIO`` → NAME; other sub-commands name their group; None for
    the queries (``--list``, ``--query``, ``--display``), which change nothing."""
    if any(a in ("--list", "--query", "--display", "--get-selections") for a in args):
        return None
    for position, arg in enumerate(args):
        if arg == "--install" and position + 2 < len(args):
            name = args[position + 2]
            if computed(name):
                sentence = "registers alternatives (names computed at install time)"
                return ScriptAction("alternatives", script, name, sentence)
            return ScriptAction("alternatives", script, name, f"registers the alternative {name}")
        if arg in (
            "--remove",
            "--auto",
            "--set",
            "--remove-all",
            "--config",
        ) and position + 1 < len(args):
            target = posixpath.basename(args[position + 1])
            if computed(target):
                sentence = "changes alternatives (names computed at install time)"
                return ScriptAction("alternatives", script, target, sentence)
            return ScriptAction("alternatives", script, target, f"changes the alternative {target}")
    return ScriptAction("alternatives", script, "", "changes alternatives")

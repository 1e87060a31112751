"""What maintainer scripts would do, classified without running them (core/maintscripts.py), the
replay policy that judges each action (core/replay.py) and the audit document's rendering.

The snippets are taken from real Debian packages of bookworm, trixie and forky (shortened, the
shell kept as written): postgresql-common, php8.4-cli, openjdk, libc-bin, libglib2.0-0t64,
nginx-common, python3-minimal, ca-certificates-java, fontconfig, shared-mime-info...
"""

# ruff: noqa: E101, E501 - the snippets keep the tabs and long lines of the real scripts

from __future__ import annotations

import pytest

from couturier.core.maintscripts import CLASSES, ScriptAction, script_actions
from couturier.core.replay import CLASS_RULES, ScriptWarning, replay_policy, script_warnings
from couturier.core.replay_starters import STARTER_RULES
from couturier.core.shellwords import commands, logical_lines
from couturier.services.maintscripts import (
    AuditedPackage,
    audit_markdown,
    build_policy,
    unjudged,
)

POSTGRESQL_COMMON = r"""#!/bin/sh
set -e
[ "$DPKG_MAINTSCRIPT_PACKAGE" ] && . /usr/share/debconf/confmodule
if [ "$1" = configure ]; then
    [ "$DPKG_MAINTSCRIPT_PACKAGE" ] && quiet="--quiet" # RedHat doesn't have this
    if ! getent passwd postgres > /dev/null; then
        adduser --system $quiet --home /var/lib/postgresql --no-create-home \
            --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
    fi
    if ! id -Gn postgres | grep -qw postgres; then
        adduser $quiet postgres postgres
    fi
    if [ "`id -u postgres`" -eq 0 ]; then
        echo "The postgres system user must not have uid 0 (root).
Please fix this and reinstall this package." >&2
        exit 1
    fi
    mkdir -p /var/log/postgresql
    chmod 1775 /var/log/postgresql
    [ -d /var/run/postgresql ] || \
       install -d -m 2775 -o postgres -g postgres /var/run/postgresql
    if ! [ -e "$SSL_ROOT" ]; then
        cat > "$SSL_ROOT" <<EOF
This is a dummy root certificate file for PostgreSQL. To enable client side
authentication, add some certificates to it.
EOF
    fi
fi
"""

PHP_CLI = r"""#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    for binary in php phar phar.phar; do
        update-alternatives \
	    --install /usr/bin/${binary} ${binary} /usr/bin/${binary}8.4 84 \
	    --slave /usr/share/man/man1/${binary}.1.gz ${binary}.1.gz /usr/share/man/man1/${binary}8.4.1.gz
    done
fi
if [ "$1" = "configure" ]; then
    phpini="/etc/php/8.4/cli/php.ini"
    ucf /usr/lib/php/8.4/php.ini-production.cli $phpini
    if [ -e /usr/lib/php/php-maintscript-helper ]; then
	. /usr/lib/php/php-maintscript-helper
	mods=$(phpquery -M -v 8.4)
	for mod in $mods; do
	    php_invoke enmod 8.4 cli $mod
	done
    fi
fi
exit 0
"""

OPENJDK = r"""#!/bin/sh
set -e
case "$1" in
configure)
    for i in $jre_tools; do
	if [ -z "$(update-alternatives --list $i 2>/dev/null | grep ^$basedir/)" ]; then
	    :
	fi
    done
    update-alternatives \
      --install /usr/bin/java java $basedir/bin/java 2111
    update-alternatives \
      --install /usr/bin/jexec jexec $basedir/lib/jexec 2111
    ;;
abort-upgrade|abort-remove|abort-deconfigure)
    ;;
*)
    echo "postinst called with unknown argument \`$1'" >&2
    exit 1
    ;;
esac
"""

LIBC_BIN = r"""#!/bin/sh
set -e
export LC_ALL=C
if [ "$1" = "triggered" ] || [ "$1" = "configure" ]; then
  ldconfig -r "$DPKG_ROOT/" || ldconfig --verbose -r "$DPKG_ROOT/"
  exit 0
fi
"""

GLIB = r"""#!/bin/sh
set -e
handle_triggers () {
    local trigger
    for trigger in "$@"; do
        case $trigger in
          /usr/share/glib-2.0/schemas)
            "/usr/lib/x86_64-linux-gnu/glib-2.0/glib-compile-schemas" /usr/share/glib-2.0/schemas || true
            ;;
          "/usr/lib/x86_64-linux-gnu/gio/modules")
            "/usr/lib/x86_64-linux-gnu/glib-2.0/gio-querymodules" "/usr/lib/x86_64-linux-gnu/gio/modules" || true
            ;;
        esac
    done
}
if [ "$1" = triggered ]; then
    handle_triggers $2
    exit 0
fi
"""

NGINX_COMMON = r"""#!/bin/sh
set -e
. /usr/share/debconf/confmodule
case "$1" in
  configure)
    logdir="/var/log/nginx"
    if ! dpkg-statoverride --list "$logdir" >/dev/null; then
      chown root:adm $logdir
    fi
    if [ -z $2 ] && [ ! -e /etc/nginx/sites-enabled/default ] &&
       [ -d /etc/nginx/sites-enabled ] && [ -d /etc/nginx/sites-available ]; then
      ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
    fi
    ;;
esac
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] ; then
	deb-systemd-helper unmask 'nginx.service' >/dev/null || true
	if [ -x "/etc/init.d/nginx" ]; then
		update-rc.d nginx defaults >/dev/null || exit 1
	fi
fi
"""

CACHES = r"""#!/bin/sh
set -e
if [ "$1" = "triggered" ]; then
    fc-cache -s
    update-mime-database /usr/share/mime
    /usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/gdk-pixbuf-query-loaders --update-cache
fi
if which py3compile >/dev/null 2>&1; then
	py3compile -p python3-minimal /usr/share/python3/
fi
files=$(dpkg -L libpython3.13-stdlib:amd64 | sed -n '/^\/usr\/lib\/python3.13\/.*\.py$/p')
/usr/bin/python3.13 -E -S /usr/lib/python3.13/py_compile.py $files
"""

CA_JAVA = r"""#!/bin/sh
set -e
find_pem_files()
{
	find "$ETCCERTSDIR" -type l -name '*.pem' -print0 |
	sort -z |
	xargs -0 -I {} sh -c '
		symlink="$1"
		target=$(readlink -f "$symlink")
		case "$target" in
			"'"$CERTSDIR"'"/*|"'$LOCALCERTSDIR'"/*)
				printf "%s\n" "$symlink"
				;;
		esac
	' treatpemfile {}
}
find_pem_files
keytool -importkeystore -srckeystore "$CACERTS" -destkeystore "$tmp"
dpkg-trigger update-ca-certificates-java
"""


def _postinst(text: str) -> set[tuple[str, str]]:
    return {(a.action, a.detail) for a in script_actions("pkg", {"postinst": text.encode()})}


def test_shell_is_read_as_simple_commands_with_substitutions() -> None:
    line = 'md5sum="$(md5sum ${inidir}/x.ini | sed -e \'s/ .*//\')"; [ -f "$f" ] && rm -f "$f"'
    assert list(commands(line)) == [
        ["md5sum=$(...)"],
        ["[", "-f", "$f", "]"],
        ["rm", "-f", "$f"],
        ["md5sum", "${inidir}/x.ini"],
        ["sed", "-e", "s/ .*//"],
    ]
    # Comments, continuations, multi-line strings and here-documents.
    text = 'echo "a # not a comment\nstill the string" # a comment\nls \\\n  -l\ncat <<EOF\nrm -rf /\nEOF\n'
    assert list(logical_lines(text)) == [
        'echo "a # not a comment\nstill the string" ',
        "ls    -l",
        "cat ",
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            POSTGRESQL_COMMON,
            {
                ("debconf", ""),
                ("accounts", "postgres"),
                ("accounts", "postgres:postgres"),
                ("directories", "/var/log/postgresql"),
                ("directories", "/var/run/postgresql"),
                ("files", "$SSL_ROOT"),
            },
            id="postgresql-common: adduser, directories, a here-document",
        ),
        pytest.param(
            PHP_CLI,
            {
                ("alternatives", "php"),
                ("alternatives", "phar"),
                ("alternatives", "phar.phar"),
                ("conffiles", "/etc/php/8.4/cli/php.ini"),
                ("php-modules", ""),
            },
            id="php8.4-cli: a loop over literal words, an assignment, ucf, php_invoke",
        ),
        pytest.param(
            OPENJDK,
            {("alternatives", "java"), ("alternatives", "jexec")},
            id="openjdk: --install names, --list is a query, case patterns are no commands",
        ),
        pytest.param(LIBC_BIN, {("ldconfig", "")}, id="libc-bin: ldconfig"),
        pytest.param(
            GLIB,
            {("cache:glib-schemas", ""), ("cache:gio-modules", "")},
            id="libglib2.0: quoted command paths inside a function",
        ),
        pytest.param(
            NGINX_COMMON,
            {
                ("debconf", ""),
                ("directories", "/var/log/nginx"),
                ("links", "/etc/nginx/sites-enabled/default"),
                ("service", "nginx.service"),
                ("service", "nginx"),
            },
            id="nginx-common: statoverride --list is a query, ln, services",
        ),
        pytest.param(
            CACHES,
            {
                ("cache:fontconfig", ""),
                ("cache:mime", ""),
                ("cache:gdk-pixbuf", ""),
                ("python-bytecode", ""),
            },
            id="caches and bytecode",
        ),
        pytest.param(
            CA_JAVA,
            {("java-truststore", ""), ("java-truststore", "update-ca-certificates-java")},
            id="ca-certificates-java: sh -c with a case inside xargs, keytool, dpkg-trigger",
        ),
    ],
)
def test_real_scripts_are_classified(script: str, expected: set[tuple[str, str]]) -> None:
    assert _postinst(script) == expected


def test_apache_and_apparmor_have_classes_of_their_own() -> None:
    found = _postinst(
        "if [ -e /usr/share/apache2/apache2-maintscript-helper ] ; then\n"
        "    . /usr/share/apache2/apache2-maintscript-helper\n"
        "    apache2_invoke enmod php8.4\nfi\na2enmod -q rewrite\n"
        "apparmor_parser -r -T -W /etc/apparmor.d/usr.sbin.named || true\n"
    )
    assert found == {
        ("apache-modules", "apache2_invoke enmod php8.4"),
        ("apache-modules", "a2enmod rewrite"),
        ("apparmor", "/etc/apparmor.d/usr.sbin.named"),
    }


def test_statoverride_add_is_an_action_but_list_is_not() -> None:
    found = _postinst(
        "dpkg-statoverride --list /var/lib/php/sessions >/dev/null ||\n"
        "  dpkg-statoverride --add root root 1733 /var/lib/php/sessions\n"
    )
    assert found == {("statoverride", "/var/lib/php/sessions")}


def test_unknown_commands_are_named_not_dropped() -> None:
    actions = script_actions(
        "foo", {"postinst": b"#!/bin/sh\nset -e\nmake-ssl-cert generate-default-snakeoil\n"}
    )
    assert actions == (ScriptAction("unknown", "postinst", "make-ssl-cert", "runs make-ssl-cert"),)
    perl = script_actions("bar", {"preinst": b"#!/usr/bin/perl\nsystem('x');\n"})
    assert [(a.action, a.detail) for a in perl] == [("unknown", "/usr/bin/perl")]
    # Functions a script defines are read where they are defined; calling them is no action.
    assert _postinst("setup() {\n  echo hi\n}\nsetup\n") == set()


def test_accounts_say_which_user_or_group() -> None:
    actions = script_actions(
        "foo",
        {
            "postinst": b"adduser --system --group --home /srv/foo foo\n"
            b"addgroup --system foogrp\nuseradd -r -s /usr/sbin/nologin bar\n"
            b"adduser foo ssl-cert\n"
        },
    )
    assert {(a.detail, a.sentence) for a in actions} == {
        ("foo", "adds the system user foo"),
        ("foogrp", "adds the system group foogrp"),
        ("bar", "adds the system user bar"),
        ("foo:ssl-cert", "adds foo to the group ssl-cert"),
    }


def test_triggers_files_follow_deb_triggers() -> None:
    members = {
        "triggers": b"# Triggers added by dh_makeshlibs/13.11.4\nactivate-noawait ldconfig\n"
        b"interest-await /usr/share/glib-2.0/schemas\ninterest-noawait nginx-reload\n"
        b"interest update-ca-certificates-fresh\n",
        "prerm": b"#!/bin/sh\nuserdel foo\n",  # removal scripts are not read
    }
    found = {(a.action, a.detail, a.sentence) for a in script_actions("x", members)}
    assert found == {
        (
            "ldconfig",
            "ldconfig",
            "activates the trigger ldconfig (rebuilds the dynamic loader cache)",
        ),
        (
            "cache:glib-schemas",
            "/usr/share/glib-2.0/schemas",
            "handles the trigger /usr/share/glib-2.0/schemas (compiles GSettings schemas)",
        ),
        ("triggers", "nginx-reload", "handles the trigger nginx-reload"),
        (
            "ca-certificates",
            "update-ca-certificates-fresh",
            "handles the trigger update-ca-certificates-fresh (rebuilds the system CA bundle)",
        ),
    }


def test_every_rule_names_a_known_class_and_gives_a_reason() -> None:
    for rule in (*CLASS_RULES, *STARTER_RULES):
        assert rule.action in CLASSES, rule
        assert bool(rule.verdict.handled_by) != bool(rule.verdict.waived), rule


def test_accounts_are_judged_on_the_user_they_name() -> None:
    policy = replay_policy(accounts=["root", "www-data"], alternatives=["awk"])
    actions = {
        "libfoo": script_actions(
            "libfoo",
            {
                "postinst": b"adduser --system foo\nadduser --system www-data\n"
                b"update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\n"
                b"update-alternatives --install /usr/bin/js js /usr/bin/nodejs 50\n"
                b"ldconfig\nsystemctl enable foo.service\n"
            },
        )
    }
    assert script_warnings(actions, policy) == (
        ScriptWarning(
            "libfoo", "accounts", "libfoo: postinst adds the system user foo; not replayed"
        ),
        ScriptWarning(
            "libfoo", "alternatives", "libfoo: postinst registers the alternative js; not replayed"
        ),
    )


def test_a_verdict_that_holds_only_in_its_starter_warns_for_an_added_package() -> None:
    policy = replay_policy(starter_rules=STARTER_RULES)
    make_cert = script_actions(
        "ssl-cert", {"postinst": b"make-ssl-cert generate-default-snakeoil --force-overwrite\n"}
    )
    (action,) = make_cert
    # In the postgres starter no key is wanted: waived there, with the reason.
    assert policy.verdict("ssl-cert", action) is not None
    # Added by a user, who may expect a key: warned.
    assert script_warnings({"ssl-cert": make_cert}, policy) == (
        ScriptWarning("ssl-cert", "unknown", "ssl-cert: postinst runs make-ssl-cert; not replayed"),
    )
    # A verdict that holds anywhere (tzdata: UTC without /etc/localtime) stays quiet.
    tz = script_actions("tzdata", {"postinst": b'ln -sf "$zone" "$DPKG_ROOT/etc/localtime"\n'})
    assert tz and script_warnings({"tzdata": tz}, policy) == ()


def test_a_known_command_s_log_is_part_of_it_and_a_trigger_is_not_said_twice() -> None:
    fontconfig = {
        "postinst": b'if [ "$1" = triggered ]; then\n'
        b"  fc-cache -s -v 1>/var/log/fontconfig.log 2>&1\nfi\n",
        "triggers": b"interest-noawait /usr/share/fonts\ninterest-noawait /usr/share/texmf/fonts\n",
    }
    assert {a.action for a in script_actions("fontconfig", fontconfig)} == {"cache:fontconfig"}
    pixbuf = {
        "postinst": b"/usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/gdk-pixbuf-query-loaders"
        b" > /usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders.cache\n",
        "triggers": b"interest-noawait /usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders\n",
    }
    actions = {"libgdk-pixbuf-2.0-0": script_actions("libgdk-pixbuf-2.0-0", pixbuf)}
    assert [w.message for w in script_warnings(actions, replay_policy())] == [
        "libgdk-pixbuf-2.0-0: postinst rebuilds the gdk-pixbuf loader cache; not replayed"
    ]


def test_commands_run_by_find_and_output_of_tee_count() -> None:
    assert _postinst(
        "find /etc/foo -name '*.old' -exec rm -f {} \\;\necho x | tee /etc/foo.conf\n"
        'eval "$(some-tool --shell)"\n'
    ) == {
        ("cleanup", "{}"),
        ("files", "/etc/foo.conf"),
        ("unknown", "eval"),
        ("unknown", "some-tool"),
    }


def test_the_audit_document_judges_every_action_and_names_what_is_missing() -> None:
    base = script_actions("base-files", {"triggers": b"activate-noawait ldconfig\n"})
    odd = script_actions("odd", {"postinst": b"frobnicate --all\n"})
    packages = (
        AuditedPackage("base-files", ("base 12", "python 3.13"), base),
        AuditedPackage("odd", ("python 3.13",), odd),
        AuditedPackage("quiet", ("base 12",), ()),
    )
    policy = build_policy("amd64")
    assert [(name, a.detail) for name, a in unjudged(packages, policy)] == [("odd", "frobnicate")]
    text = audit_markdown(packages, policy)
    assert "| `ldconfig` | rebuilds the dynamic loader cache (ldconfig) | handled by " in text
    assert "### base-files\n\nIn every line of every starter.\n" in text
    assert "### odd\n\nIn python 3.13.\n" in text
    assert "| postinst | unknown | runs frobnicate | **not replayed** |" in text
    assert text.endswith("## Packages whose scripts change nothing\n\nquiet\n")


def test_dpkg_trigger_names_a_path_trigger_too() -> None:
    assert _postinst("dpkg-trigger --no-await /usr/share/glib-2.0/schemas\n") == {
        ("cache:glib-schemas", "/usr/share/glib-2.0/schemas")
    }


# -- what a script makes statically knowable ---------------------------------------------------

OPENJDK_21 = r"""#!/bin/sh
set -e
multiarch=x86_64-linux-gnu
priority=2111
basedir=/usr/lib/jvm/java-21-openjdk-amd64
mandir=$basedir/man
srcext=1.gz
dstext=1.gz
jre_tools='java jpackage keytool rmiregistry'
case "$1" in
configure)
    if [ -z "$2" ]; then
	update_alternatives=y
    fi
    if [ "$update_alternatives" = y ]; then
    if [ -n "$multiarch" ] && [ "$DPKG_MAINTSCRIPT_ARCH" != $(dpkg --print-architecture) ]; then
	priority=$(expr $priority - 1)
    fi
    for i in $jre_tools; do
	unset slave1 slave2 || true
        if [ -e $mandir/man1/$i.$srcext ]; then
	    slave1="--slave \
		/usr/share/man/man1/$i.$dstext \
                $i.$dstext \
                $mandir/man1/$i.$srcext"
	fi
        update-alternatives \
            --install \
            /usr/bin/$i \
            $i \
            $basedir/bin/$i \
            $priority \
	    $slave1 $slave2
    done
    update-alternatives \
	--install /usr/bin/jexec jexec $basedir/lib/jexec $priority \
	--slave /usr/share/binfmts/jar jexec-binfmt $basedir/lib/jar.binfmt
    fi
    ;;
esac
"""

PHP_DEFAULTS_CLI = r"""#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    for binary in php phar phar.phar; do
        update-alternatives \
            --install /usr/bin/${binary} ${binary} /usr/bin/${binary}.default 100 \
            --slave /usr/share/man/man1/${binary}.1.gz ${binary}.1.gz /usr/share/man/man1/${binary}.default.1.gz
    done
fi
exit 0
"""

PYTHON3 = r"""#! /bin/sh
set -e
case "$1" in
    configure)
	oldv=$(echo $2 | sed 's/^\(...\).*/\1/')
	for hook in /usr/share/python3/runtime.d/*.rtupdate; do
	    [ -x $hook ] || continue
	    if ! $hook rtupdate python$oldv python3.13; then
	        hb=$(basename $hook .rtupdate)
	        echo >&2 "error running python rtupdate hook $hb"
	    fi
	done
esac
"""

DBUS = r"""#!/bin/sh
set -e
MESSAGEUSER=messagebus
LAUNCHER=/usr/lib/dbus-1.0/dbus-daemon-launch-helper
if [ "$1" = configure ]; then
    # This respects $DPKG_ROOT
    if ! dpkg-statoverride --list "$LAUNCHER" >/dev/null; then
        dpkg-statoverride --update --add root "$MESSAGEUSER" 4754 "$LAUNCHER"
    fi
fi
"""

DBUS_SYSTEM_BUS_COMMON = r"""#!/bin/sh
set -e
MESSAGEUSER=messagebus
in_sysroot () {
    if [ -z "${DPKG_ROOT:-}" ]; then
        "$@"
    else
        chroot "${DPKG_ROOT}" "$@"
    fi
}
case "$1" in
    (configure | abort-upgrade | abort-deconfigure | abort-remove)
        if command -v systemd-sysusers >/dev/null; then
            systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} dbus.conf
        else
            in_sysroot adduser --system --quiet --group "$MESSAGEUSER"
        fi
        ;;
esac
"""


def _sentences(package: str, text: str) -> dict[tuple[str, str], str]:
    actions = script_actions(package, {"postinst": text.encode()})
    return {(a.action, a.detail): a.sentence for a in actions}


@pytest.mark.parametrize(
    ("package", "script", "expected"),
    [
        pytest.param(
            "openjdk-21-jre-headless",
            OPENJDK_21,
            {
                ("alternatives", "java"): "registers the alternative java",
                ("alternatives", "jpackage"): "registers the alternative jpackage",
                ("alternatives", "keytool"): "registers the alternative keytool",
                ("alternatives", "rmiregistry"): "registers the alternative rmiregistry",
                ("alternatives", "jexec"): "registers the alternative jexec",
            },
            id="openjdk: for i in $jre_tools, the list a quoted assignment",
        ),
        pytest.param(
            "php-cli",
            PHP_DEFAULTS_CLI,
            {
                ("alternatives", "php"): "registers the alternative php",
                ("alternatives", "phar"): "registers the alternative phar",
                ("alternatives", "phar.phar"): "registers the alternative phar.phar",
            },
            id="php-cli: for binary in php phar phar.phar, used as ${binary}",
        ),
        pytest.param(
            "python3",
            PYTHON3,
            {
                ("unknown", "/usr/share/python3/runtime.d/*.rtupdate"): (
                    "runs /usr/share/python3/runtime.d/*.rtupdate"
                ),
            },
            id="python3: a loop over a glob runs each hook it matches",
        ),
        pytest.param(
            "dbus",
            DBUS,
            {
                ("statoverride", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"): (
                    "overrides the owner or mode of /usr/lib/dbus-1.0/dbus-daemon-launch-helper"
                ),
            },
            id="dbus: $LAUNCHER set before it is used; --list is a query",
        ),
        pytest.param(
            "dbus-system-bus-common",
            DBUS_SYSTEM_BUS_COMMON,
            {
                ("accounts", "dbus.conf"): (
                    "adds the accounts declared in sysusers.d/dbus.conf (systemd-sysusers)"
                ),
                ("accounts", "messagebus"): "adds the system user messagebus",
            },
            id="dbus-system-bus-common: sysusers names its file; in_sysroot wraps adduser",
        ),
    ],
)
def test_variables_and_loops_the_script_sets_are_expanded(
    package: str, script: str, expected: dict[tuple[str, str], str]
) -> None:
    assert _sentences(package, script) == expected


def test_what_only_the_running_script_knows_is_said_in_words() -> None:
    found = _sentences(
        "foo",
        "for i in $(ls /usr/lib/foo/bin); do\n"
        "  update-alternatives --install /usr/bin/$i $i /usr/lib/foo/bin/$i 10\n"
        "done\n"
        'hook="$(find /usr/lib/foo -name hook)"\n"$hook" configure\n'
        'mkdir -p "$2/cache"\nsystemd-sysusers\n'
        "adduser --system $(cat /etc/foo/user)\n",
    )
    assert found == {
        ("alternatives", "$i"): "registers alternatives (names computed at install time)",
        ("unknown", "$hook"): "runs a command (computed at install time)",
        ("directories", "$2/cache"): (
            "creates or changes the owner or mode of a directory (path computed at install time)"
        ),
        ("accounts", ""): (
            "adds the accounts declared in sysusers.d (every file there, foo's among them; "
            "systemd-sysusers)"
        ),
        ("accounts", "$(...)"): "adds an account (name computed at install time)",
    }
    assert not any("$" in sentence for sentence in found.values())


def test_every_branch_s_value_counts_and_dpkg_s_variables_are_known() -> None:
    found = _postinst(
        'if [ "$1" = a ]; then dir=/var/lib/a; else dir=/var/lib/b; fi\nmkdir -p "$dir"\n'
        'ln -s /etc/foo "$DPKG_ROOT/etc/bar"\n'
        'conf=/etc/foo.conf\nexport conf\ncp /usr/share/foo/default "$conf"\n'
        'touch "/var/lib/${DPKG_MAINTSCRIPT_PACKAGE}.stamp"\n'
        "sysusers() { systemd-sysusers ${DPKG_ROOT:+--root=$DPKG_ROOT} ${1:-x}.conf; }\n"
    )
    assert found == {
        ("directories", "/var/lib/a"),
        ("directories", "/var/lib/b"),
        ("links", "/etc/bar"),
        ("files", "/etc/foo.conf"),
        ("files", "/var/lib/pkg.stamp"),
        ("accounts", "${1:-x}.conf"),
    }


def test_alternatives_are_judged_against_what_the_build_makes() -> None:
    """By name (php, phar, java, keytool are in assembly/generated.py's ALTERNATIVES); by the
    package when the script computes the name; what is left is warned about in words."""
    policy = build_policy("amd64")
    computed_loop = (
        "for i in $(ls /usr/lib/jvm/x/bin); do\n"
        "  update-alternatives --install /usr/bin/$i $i /usr/lib/jvm/x/bin/$i 10\ndone\n"
    )
    actions = {
        "php-cli": script_actions("php-cli", {"postinst": PHP_DEFAULTS_CLI.encode()}),
        "openjdk-21-jre-headless": script_actions(
            "openjdk-21-jre-headless", {"postinst": OPENJDK_21.encode()}
        ),
        "openjdk-25-jre-headless": script_actions(
            "openjdk-25-jre-headless", {"postinst": computed_loop.encode()}
        ),
        "foo-tools": script_actions("foo-tools", {"postinst": computed_loop.encode()}),
    }
    assert [w.message for w in script_warnings(actions, policy)] == [
        "foo-tools: postinst registers alternatives (names computed at install time); not replayed",
        # In the jre starter its PATH reaches them; added to another image, they are missing.
        "openjdk-21-jre-headless: postinst registers the alternative jpackage; not replayed",
        "openjdk-21-jre-headless: postinst registers the alternative rmiregistry; not replayed",
    ]
    (computed,) = actions["openjdk-25-jre-headless"]
    verdict = policy.verdict("openjdk-25-jre-headless", computed, added=True)
    assert verdict is not None and "java, keytool" in verdict.text


def test_sysusers_inline_lines_name_the_accounts() -> None:
    found = _sentences(
        "foo", "systemd-sysusers --inline 'u foo - \"Foo daemon\"' 'g foogrp -' 'm foo adm'\n"
    )
    assert found == {
        ("accounts", "foo"): "adds the system user foo",
        ("accounts", "foogrp"): "adds the system group foogrp",
        ("accounts", "foo:adm"): "adds foo to the group adm",
    }


def test_libselinux1_is_waived_for_what_it_does() -> None:
    policy = build_policy("amd64")
    tmpfiles = ScriptAction("tmpfiles", "postinst", "", "")
    trigger = ScriptAction("triggers", "triggers", "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", "")
    tmpfiles_reason = policy.verdict("libselinux1", tmpfiles)
    trigger_reason = policy.verdict("libselinux1", trigger)
    assert tmpfiles_reason is not None and "/run/setrans" in tmpfiles_reason.waived
    assert trigger_reason is not None and "selinux_compile_fcontexts" in trigger_reason.waived
    assert "labels are set by" not in tmpfiles_reason.waived + trigger_reason.waived


def test_a_hostile_script_stays_cheap_and_never_raises() -> None:
    """Variables doubling through each other, a chain deeper than the recursion limit, a
    variable given thousands of values and self-reference: read in bounded time, unknown
    where the bounds are reached."""
    doubling = "a0=x\n" + "".join(f"a{i}=$a{i - 1}$a{i - 1}\n" for i in range(1, 60))
    chain = "b0=/srv\n" + "".join(f"b{i}=$b{i - 1}/d\n" for i in range(1, 3000))
    many = "".join(f"c=/v{i}\n" for i in range(5000))
    text = (
        doubling
        + chain
        + many
        + "p=$p:/x\nmkdir $a59\nmkdir $b2999\nmkdir $c\nmkdir $p\nmkdir $b3\n"
        + "for i in $(seq 1 5000); do mkdir /w/$i; done\n"
    )
    actions = script_actions("pkg", {"postinst": text.encode()})
    details = {a.detail for a in actions}
    assert {"/srv/d/d/d", "$c", "$p:/x", "/w/$i"} <= details
    assert all(len(detail) <= 4096 for detail in details)
    # Where a bound is reached, the detail is computed and said in words.
    deep = [a for a in actions if a.detail.startswith(("$a", "$b"))]
    assert len(deep) == 2 and all("computed at install time" in a.sentence for a in deep)

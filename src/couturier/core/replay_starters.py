"""What the starters' packages' maintainer scripts do beyond the generic classes, judged.

One :class:`~couturier.core.replay.Rule` per (package, action class), sometimes narrowed by the
action's detail, each saying which module replays it or why an image does not need it. They
come from the audit (``scripts/audit-maintainer-scripts``, ``docs/maintainer-scripts.md``): a
starter package whose script gains an action no rule covers fails the audit test, and the rule
is written here with its reason. Package patterns are ``fnmatch`` patterns, so one rule serves
every version-named package (``postgresql-1[0-9]``, ``php8.*-common``).

The reasons lean on a few facts about images: an image is a fresh install, never upgraded in
place (scripts' upgrade branches have nothing to act on); no init system, no login and no
package manager runs in a container; documentation is dropped.

Pure data.
"""

from __future__ import annotations

from dataclasses import replace

from couturier.core.replay import Rule, Verdict, handled, waived

__all__ = ["STARTER_RULES"]

_FRESH = (
    "acts on an upgrade from an earlier version; an image is a fresh install, never upgraded in "
    "place"
)
_NO_INIT = "restarts or sets up services, but no init system runs in a container"
_NO_LOGIN = "logins and interactive shells, which a container does not have"
_ASSEMBLE = "assembly/assemble.py (the image is merged-/usr from the start)"
_STARTER_DIRS = "assembly/starterfiles.py (the starter's writable directories, owned by its user)"
_POSTGRES_CLUSTER = (
    "belongs to clusters made with pg_createcluster (/etc/postgresql, /var/log/postgresql); "
    "the postgres starter's entrypoint runs initdb in $PGDATA and logs to stderr instead"
)


def _rules(packages: str, verdict: Verdict, *actions: str, detail: str = "*") -> list[Rule]:
    return [Rule(action, verdict, packages, detail) for action in actions]


_RULES: tuple[Rule, ...] = (
    # base-files: the merged-/usr links and the /var/run, /var/lock links are made natively.
    *_rules(
        "base-files",
        waived("dpkg-vendor's origin file; dpkg does not run in images"),
        "links",
        detail="*origins/default",
    ),
    *_rules(
        "base-files", waived("man pages are dropped from images"), "links", detail="*usr/local/man"
    ),
    *_rules(
        "base-files",
        waived("mail spool for local mail delivery, which images do not do"),
        "links",
        detail="*var/spool/mail",
    ),
    *_rules(
        "base-files",
        handled(f"{_ASSEMBLE} and assembly/generated.py base_files_links (/var/run, /var/lock)"),
        "links",
    ),
    *_rules(
        "base-files",
        waived(
            "makes empty /mnt, /srv, /opt, /usr/local/* and the login records (wtmp, "
            "btmp, lastlog); programs run by the starters need none of them"
        ),
        "directories",
    ),
    *_rules(
        "base-files",
        waived(
            f"copies /etc/profile, /root/.profile, /root/.bashrc and /etc/motd, for {_NO_LOGIN}"
        ),
        "files",
    ),
    *_rules(
        "base-files",
        waived(
            "keeps dpkg from removing the merged-/usr aliases during an "
            "upgrade; dpkg does not run in images"
        ),
        "diversions",
    ),
    # base-passwd, passwd, adduser, login.defs: accounts are written from the master files.
    *_rules(
        "base-passwd",
        handled("assembly/generated.py accounts (from base-passwd's master files)"),
        "files",
        detail="*etc/passwd",
    ),
    *_rules(
        "base-passwd",
        handled("assembly/generated.py accounts (from base-passwd's master files)"),
        "files",
        detail="*etc/group",
    ),
    *_rules(
        "base-passwd",
        waived("subordinate ids for user namespaces made on a host; containers create no users"),
        "files",
        "directories",
        detail="*/etc/sub[gu]id",
    ),
    *_rules(
        "base-passwd",
        waived(
            "update-passwd merges new master entries into an existing "
            "/etc/passwd on upgrades; nscd does not run"
        ),
        "files",
        "unknown",
    ),
    *_rules(
        "passwd",
        waived(
            "turns on shadow passwords (/etc/shadow and its group); the "
            "image's accounts have no passwords"
        ),
        "accounts",
        "unknown",
    ),
    *_rules("passwd", waived(_NO_INIT), "tmpfiles"),
    *_rules("adduser", waived(_FRESH), "files"),
    *_rules("login.defs", waived(_FRESH), "files"),
    # The C library and friends.
    *_rules("libc-bin", handled("assembly/generated.py nsswitch"), "files"),
    *_rules("libc6", handled(_ASSEMBLE), "links", "directories"),
    *_rules("libc6", waived(_FRESH), "diversions", "files"),
    *_rules("libc6", waived(_NO_INIT), "triggers", "unknown"),
    *_rules(
        "lib*t64",
        waived("keeps libraries in place during the 64-bit time_t transition's upgrades"),
        "diversions",
    ),
    *_rules("libgcrypt20", waived(_FRESH), "unknown"),
    *_rules("libgssapi-krb5-2", waived(_FRESH), "files"),
    *_rules("libpam*", waived(f"PAM configuration, for {_NO_LOGIN}"), "files", "unknown"),
    *_rules(
        "libselinux1",
        waived(
            "its tmpfiles.d file makes /run/setrans, the socket directory of mcstransd (the "
            "SELinux label translation daemon); no such daemon runs in a container, and "
            "libselinux goes on without it"
        ),
        "tmpfiles",
    ),
    *_rules(
        "libselinux1",
        waived(
            "selinux_compile_fcontexts recompiles the file-context databases of the SELinux "
            "policies installed in /etc/selinux (again when libpcre2 changes, hence the "
            "trigger); an image installs no policy, so there is nothing to compile"
        ),
        "triggers",
        "unknown",
    ),
    *_rules("usrmerge", handled(_ASSEMBLE), "unknown", detail="*convert-usrmerge"),
    *_rules("usrmerge", waived(f"/etc/shells lists the shells of {_NO_LOGIN}"), "unknown"),
    *_rules(
        "debianutils",
        waived(f"/etc/shells lists the shells of {_NO_LOGIN}"),
        "files",
        "triggers",
        "unknown",
    ),
    *_rules(
        "dash",
        waived(
            "dash ships the /bin/sh link itself; the diversions only let "
            "another shell take /bin/sh over, which is never asked"
        ),
        "diversions",
        "files",
        "links",
        "unknown",
    ),
    *_rules(
        "dpkg",
        waived(
            "dpkg's own state and compatibility links; dpkg does not run in "
            "images (assembly/dpkgdb.py writes the database scanners read)"
        ),
        "files",
        "links",
        "unknown",
    ),
    *_rules(
        "init-system-helpers", handled("assembly/generated.py os_release"), "diversions", "links"
    ),
    *_rules(
        "readline-common",
        waived("/etc/inputrc is optional; readline has built-in bindings"),
        "files",
    ),
    *_rules(
        "tzdata",
        waived(
            "without /etc/localtime the C library uses UTC, tzdata's default "
            "answer; set TZ for another zone"
        ),
        "files",
        "links",
    ),
    *_rules(
        "netbase",
        waived(
            "container runtimes mount their own /etc/hosts; /etc/networks "
            "and the sysctl file are for a host"
        ),
        "files",
        "directories",
    ),
    *_rules(
        "ucf",
        waived("ucf's registry of the files it manages; the files themselves are made natively"),
        "files",
    ),
    *_rules(
        "systemd",
        waived(
            "systemd is only a dependency here and never runs as init: its "
            "accounts, journal and machine id serve a booted system"
        ),
        "accounts",
        "directories",
        "tmpfiles",
        "triggers",
        "unknown",
    ),
    *_rules("perl", waived(_FRESH), "alternatives", "triggers"),
    *_rules("procps", waived(f"w(1) shows the users of {_NO_LOGIN}"), "alternatives"),
    *_rules("tar", waived("rmt serves remote tape drives"), "alternatives"),
    *_rules("util-linux-extra", waived(_NO_INIT), "directories"),
    *_rules("procps", waived(_NO_INIT), "directories", detail="/etc/init.d/*"),
    *_rules(
        "psmisc", waived("update-menus builds desktop menus, which images do not show"), "unknown"
    ),
    *_rules(
        "iproute2",
        waived(
            "gives /bin/ip capabilities only when debconf's question is "
            "answered yes (the default is no)"
        ),
        "unknown",
    ),
    *_rules("iproute2", waived(_FRESH), "files"),
    *_rules(
        "openssl",
        waived("the package ships /usr/lib/ssl; the link is made only when it is missing"),
        "links",
    ),
    *_rules(
        "locales",
        waived(
            "locale-gen builds the locales chosen in /etc/locale.gen, none "
            "by default; images use C.UTF-8, which the C library ships"
        ),
        "locales",
        "files",
        "links",
    ),
    *_rules(
        "fontconfig-config",
        waived(
            "debconf's hinting and bitmap choices as links in /etc/fonts/conf.d; "
            "without them fontconfig takes its built-in defaults"
        ),
        "links",
        "directories",
    ),
    *_rules(
        "libglib2.0-0*",
        waived(
            "no starter package ships a GSettings schema or a GIO module, so there is "
            "nothing to compile; a package that adds one gets a warning"
        ),
        "cache:glib-schemas",
        "cache:gio-modules",
        "directories",
    ),
    # Packages users often add beside a starter.
    *_rules(
        "fontconfig",
        waived("fontconfig's cache directory; fontconfig scans the fonts itself without it"),
        "directories",
    ),
    # Certificates.
    *_rules(
        "ca-certificates",
        handled(
            "assembly/generated.py ca_bundle (every certificate, as "
            "the generated /etc/ca-certificates.conf selects)"
        ),
        "files",
    ),
    *_rules(
        "ca-certificates",
        handled("assembly/bundles.py (a certificates bundle puts its files there)"),
        "directories",
        detail="/usr/local/share/ca-certificates",
    ),
    *_rules(
        "ca-certificates",
        waived("makes the empty directories for local certificates; bundles bring their own"),
        "directories",
    ),
    *_rules(
        "ca-certificates-java",
        handled(
            "assembly/truststore.py (the JKS store is written "
            "directly; keytool's state files are not needed)"
        ),
        "files",
        "directories",
    ),
    *_rules(
        "ssl-cert",
        waived(
            "ssl-cert makes a snakeoil key pair and its group; a key made "
            "at build time would be shared by every container, so none is "
            "made"
        ),
        "accounts",
        "statoverride",
        "unknown",
    ),
    # Java.
    *_rules(
        "openjdk-*-jre-headless",
        waived(
            "the jre starter's PATH names the JVM's bin directory, where these tools are; "
            "/usr/bin/java and /usr/bin/keytool are made (assembly/generated.py ALTERNATIVES)"
        ),
        "alternatives",
        detail="jpackage",
    ),
    *_rules(
        "openjdk-*-jre-headless",
        waived(
            "the jre starter's PATH names the JVM's bin directory, where these tools are; "
            "/usr/bin/java and /usr/bin/keytool are made (assembly/generated.py ALTERNATIVES)"
        ),
        "alternatives",
        detail="rmiregistry",
    ),
    *_rules(
        "openjdk-*-jre-headless",
        waived("jexec runs jar files through binfmt_misc, which belongs to the host's kernel"),
        "alternatives",
        detail="jexec",
    ),
    *_rules(
        "openjdk-*-jre-headless",
        handled("assembly/truststore.py"),
        "triggers",
        detail="update-ca-certificates-java",
    ),
    *_rules(
        "java-common",
        waived(
            "java.util.prefs' system preferences; only programs using "
            "that API need it, and Java warns and goes on without"
        ),
        "directories",
        "files",
    ),
    *_rules(
        "openjdk-*-jre-headless",
        waived("java.util.prefs' system preferences; only programs using that API need it"),
        "directories",
        "files",
    ),
    # Node, Ruby, Python.
    *_rules(
        "nodejs",
        waived("the node starter runs /usr/bin/node; the js alias is not made"),
        "alternatives",
    ),
    *_rules("ruby", waived(_FRESH), "alternatives"),
    *_rules(
        "python3.*-minimal",
        waived("the directory for pip's local installs; pip creates it when it installs there"),
        "directories",
        detail="*local*",
    ),
    *_rules(
        "python3.*-minimal",
        waived("$localsite and $dir are pip's local directory"),
        "directories",
        detail="$*",
    ),
    *_rules(
        "python3.*-minimal", waived(_FRESH), "directories", "files", detail="*/var/lib/python*"
    ),
    *_rules(
        "python3.*-minimal",
        waived(
            "runtime hooks and byte-compilation after a Python "
            "version change; Python compiles on first import"
        ),
        "unknown",
    ),
    # PHP.
    *_rules(
        "php8.*",
        handled("assembly/php.py (mods-available files, php.ini, conf.d links)"),
        "conffiles",
        "files",
    ),
    *_rules(
        "php*-cli",
        waived(
            "phar.phar is phar under its upstream name; /usr/bin/phar is made "
            "(assembly/generated.py ALTERNATIVES)"
        ),
        "alternatives",
        detail="phar.phar",
    ),
    *_rules(
        "php-common",
        waived(
            "the CLI starter stores no PHP sessions; the directory keeps "
            "the mode the package gives it"
        ),
        "statoverride",
    ),
    # nginx.
    *_rules("nginx-common", handled("assembly/nginx.py"), "links"),
    *_rules("nginx-common", waived(_NO_INIT), "directories", detail="/etc/init.d/*"),
    *_rules(
        "nginx-common",
        handled(f"{_STARTER_DIRS}; assembly/nginx.py (/var/www/html)"),
        "directories",
    ),
    *_rules(
        "nginx-common",
        handled("assembly/nginx.py (the default page); nginx creates its log files itself"),
        "files",
    ),
    *_rules("nginx", waived(_NO_INIT), "triggers", "unknown"),
    # PostgreSQL.
    *_rules(
        "postgresql-common",
        waived(
            "the postgres starter runs the server as its own user (nonroot), which owns "
            "/var/lib/postgresql and /run/postgresql; no postgres account is needed"
        ),
        "accounts",
    ),
    *_rules(
        "postgresql-common", handled(_STARTER_DIRS), "directories", detail="/var/lib/postgresql"
    ),
    *_rules(
        "postgresql-common", handled(_STARTER_DIRS), "directories", detail="/var/run/postgresql"
    ),
    *_rules("postgresql-common", handled(_STARTER_DIRS), "tmpfiles"),
    *_rules("postgresql-common", waived(_NO_INIT), "directories", detail="/etc/init.d/*"),
    *_rules("postgresql-common", waived(_POSTGRES_CLUSTER), "directories", "conffiles", "files"),
    *_rules(
        "postgresql-common",
        waived("links the signing key of apt.postgresql.org for apt, which images do not run"),
        "links",
    ),
    *_rules(
        "postgresql-common",
        waived("diverts libpq-dev's pg_config, which no starter installs"),
        "diversions",
    ),
    *_rules(
        "postgresql-common",
        waived(
            "pg_updatedicts links hunspell dictionaries for "
            "full-text search; the starters ship none"
        ),
        "triggers",
    ),
    *_rules(
        "postgresql-common",
        waived(
            "checks the host's kernel (pg_checksystem), keeps apt from removing running kernels, "
            "upgrades existing clusters and links man pages: host, upgrade and documentation "
            "work"
        ),
        "unknown",
    ),
    *_rules(
        "postgresql-1[0-9]",
        waived(
            f"registers man page links and creates the default cluster: {_POSTGRES_CLUSTER}; "
            "the catalog version check is for upgrades"
        ),
        "unknown",
    ),
    *_rules(
        "postgresql-client-1[0-9]",
        waived("registers man page links; man pages are dropped"),
        "unknown",
    ),
)

# Verdicts that hold only inside the starter that ships the package: the starter makes the
# directories and runs the server as its own user (postgres, nginx), or ships nothing the action
# would work on (GSettings schemas, locales to generate, a key to guard). For the same package
# added by a user they do not apply, so plan and build warn.
_IN_STARTER = frozenset(
    {
        ("postgresql-common", "accounts", "*"),
        ("postgresql-common", "directories", "/var/lib/postgresql"),
        ("postgresql-common", "directories", "/var/run/postgresql"),
        ("postgresql-common", "directories", "*"),
        ("postgresql-common", "tmpfiles", "*"),
        ("postgresql-common", "conffiles", "*"),
        ("postgresql-common", "files", "*"),
        ("postgresql-common", "triggers", "*"),
        ("postgresql-1[0-9]", "unknown", "*"),
        ("nginx-common", "directories", "*"),
        ("ssl-cert", "accounts", "*"),
        ("ssl-cert", "statoverride", "*"),
        ("ssl-cert", "unknown", "*"),
        ("libglib2.0-0*", "cache:glib-schemas", "*"),
        ("libglib2.0-0*", "cache:gio-modules", "*"),
        ("libglib2.0-0*", "directories", "*"),
        ("locales", "locales", "*"),
        ("locales", "files", "*"),
        ("locales", "links", "*"),
        ("openjdk-*-jre-headless", "alternatives", "jpackage"),
        ("openjdk-*-jre-headless", "alternatives", "rmiregistry"),
    }
)
STARTER_RULES: tuple[Rule, ...] = tuple(
    replace(rule, in_starter=True)
    if (rule.packages, rule.action, rule.detail) in _IN_STARTER
    else rule
    for rule in _RULES
)

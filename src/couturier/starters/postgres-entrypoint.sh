#!/bin/sh
# Entrypoint of Couturier's postgres starter, placed at /usr/local/bin/docker-entrypoint.sh.
#
# It behaves as the official postgres image's docker-entrypoint.sh for its main variables: on the
# first start (no PG_VERSION in $PGDATA) it runs initdb with $POSTGRES_USER (default postgres) as
# the superuser and $POSTGRES_PASSWORD as its password, appends listen_addresses = '*' to
# postgresql.conf and "host all all all $POSTGRES_HOST_AUTH_METHOD" (default scram-sha-256) to
# pg_hba.conf, creates $POSTGRES_DB (default: the user's name) and then starts postgres. Extra
# initdb arguments come from $POSTGRES_INITDB_ARGS (split on spaces). As there, a first argument
# starting with "-" is for postgres ("postgres $@"), "postgres --version" (--help, -V, -?,
# --describe-config) runs without initialising anything, and any other command runs as it is.
# Not supported: /docker-entrypoint-initdb.d scripts and the *_FILE variables.
#
# The image has no coreutils: only the shell's builtins and PostgreSQL's own programs are used.
set -eu

# "-c x" or "--flag": arguments for postgres, as in the official image.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

want_help() {
	# The official image's _pg_want_help: postgres prints something and exits, so there is no
	# database to initialise (and no password is needed). -C is left out there on purpose: it
	# reads postgresql.conf, which exists only once the directory is initialised.
	for arg; do
		case $arg in
		-\? | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}

quote_identifier() {
	# "name" with every " doubled, as SQL wants an identifier.
	rest=$1 quoted=
	while [ -n "$rest" ]; do
		case $rest in
		\"*) quoted="$quoted\"\"" ;;
		*) quoted="$quoted${rest%"${rest#?}"}" ;;
		esac
		rest=${rest#?}
	done
	printf '"%s"' "$quoted"
}

initialise() {
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		printf '%s\n' >&2 \
			'Error: the database is not initialised and no superuser password is set.' \
			'       Run the image with -e POSTGRES_PASSWORD=... (not empty), or with' \
			'       -e POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one.'
		exit 1
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is split on purpose, as upstream does
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		printf '%s\n' "$POSTGRES_PASSWORD" |
			initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin ${POSTGRES_INITDB_ARGS:-}
	else
		initdb --username="$POSTGRES_USER" ${POSTGRES_INITDB_ARGS:-}
	fi
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		printf 'CREATE DATABASE %s;\n' "$(quote_identifier "$POSTGRES_DB")" |
			postgres --single -j -D "$PGDATA" postgres >/dev/null
	fi
	printf '\nPostgreSQL init process complete; ready for start up.\n\n'
}

if [ "$1" = postgres ] && ! want_help "$@" &&
	[ ! -s "${PGDATA:?PGDATA must name the data directory}/PG_VERSION" ]; then
	initialise
fi
exec "$@"

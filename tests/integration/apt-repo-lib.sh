# shellcheck shell=bash
# A tiny flat apt repository for the update test and benchmark: packages made with dpkg-deb,
# indexed with dpkg-scanpackages, and a Release file listing the index's hashes (unsigned: the
# template's sources name it with [trusted=yes]). Sourced; needs dpkg-deb and dpkg-scanpackages.
#
#   apt_repo_add DIR NAME VERSION   builds NAME_VERSION_all.deb (its file
#                                   /usr/share/NAME/version holds VERSION) into DIR
#   apt_repo_index DIR              writes DIR/Packages and DIR/Release for what DIR holds
#   The sources line: deb [trusted=yes] http://HOST/PATH ./

apt_repo_add() {
	local dir=$1 name=$2 version=$3 tree
	tree=$(mktemp -d)
	mkdir -p "$tree/DEBIAN" "$tree/usr/share/$name"
	echo "$version" >"$tree/usr/share/$name/version"
	# Some bytes, so that fetching it twice would show in the server's log and in the time.
	head -c 65536 /dev/urandom >"$tree/usr/share/$name/payload"
	cat >"$tree/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: all
Maintainer: Bulkhead tests <root@localhost>
Description: Bulkhead update test package
 Installed and updated through the net qube's updates proxy.
CONTROL
	dpkg-deb --root-owner-group -Zgzip --build "$tree" "$dir/${name}_${version}_all.deb" >/dev/null
	rm -rf "$tree"
}

apt_repo_index() {
	local dir=$1
	(
		cd "$dir"
		dpkg-scanpackages --multiversion . /dev/null 2>/dev/null |
			sed "s|^Filename: \./|Filename: |" >Packages
		{
			echo "Origin: bulkhead-test"
			echo "Label: bulkhead-test"
			echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
			echo "SHA256:"
			printf ' %s %s Packages\n' "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"
		} >Release
	)
}

# apt_repo_serve NS ADDR DIR LOG: serves DIR on ADDR:80 in namespace NS (an address the caller
# gave that namespace), its request log in LOG, stopped with the netns kit (netns-lib.sh). HTTP/1.1
# with keep-alive, as Debian's mirrors: apt-cacher-ng stalls on pipelined requests to a server
# that closes the connection after each answer, as python's default (HTTP/1.0) one does.
apt_repo_serve() {
	local ns=$1 addr=$2 dir=$3 log=$4
	ip netns exec "$ns" python3 -c '
import functools, http.server, sys
http.server.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
http.server.ThreadingHTTPServer((sys.argv[1], 80), handler).serve_forever()' \
		"$addr" "$dir" >>"$log" 2>&1 &
	NETNS_KIT_PIDS+=($!)
	netns_kit_wait_port "$ns" "$addr" 80
}

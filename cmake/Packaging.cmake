# SPDX-License-Identifier: Apache-2.0
# Debian package (CPack DEB) and the install rules for everything but the
# binary (agent/CMakeLists.txt installs that to bin/).
#
#   cmake --build build --target package        # or: cd build && cpack -G DEB
#   -> build/sanwatch_<version>_amd64.deb
#
# Contents: /usr/bin/sanwatch, /lib/systemd/system/sanwatch.service,
# /etc/sanwatch/sanwatch.toml (conffile), /lib/udev/rules.d/60-sanwatch.rules,
# /usr/share/man/man8/sanwatch.8.gz, /usr/share/doc/sanwatch/{copyright,
# changelog.gz} (DEP-5 copyright and Debian changelog, packaging/debian/),
# /usr/share/lintian/overrides/sanwatch, /usr/share/doc/sanwatch/operations.md,
# and, when the files exist (re-checked at every build), the Prometheus rules
# and the Grafana dashboard under /usr/share/sanwatch/. Depends come from
# dpkg-shlibdeps (package dpkg-dev) plus adduser and procps.
# tests/packaging/ builds, installs, runs, upgrades and purges the package,
# and runs lintian on it (lintian_test.sh).

set(_pkg_src ${PROJECT_SOURCE_DIR}/packaging)
set(_pkg_bin ${PROJECT_BINARY_DIR}/packaging)

# System paths are absolute on purpose: Debian wants the unit in
# /lib/systemd/system and the config in /etc whatever the install prefix.
install(FILES ${_pkg_src}/systemd/sanwatch.service DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${_pkg_src}/debian/60-sanwatch.rules DESTINATION /lib/udev/rules.d
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${_pkg_src}/sanwatch.toml DESTINATION /etc/sanwatch
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# Man page: version substituted and gzip'ed (-n: no name/timestamp, so the
# package is reproducible) at configure time, so `cpack` works after building
# just the sanwatch target.
set(SANWATCH_VERSION ${PROJECT_VERSION})
configure_file(${_pkg_src}/debian/sanwatch.8 ${_pkg_bin}/sanwatch.8 @ONLY)
execute_process(COMMAND gzip -9 -n -f -k ${_pkg_bin}/sanwatch.8 RESULT_VARIABLE _gz)
if(NOT _gz EQUAL 0)
  message(FATAL_ERROR "gzip of ${_pkg_bin}/sanwatch.8 failed")
endif()
install(FILES ${_pkg_bin}/sanwatch.8.gz DESTINATION share/man/man8)

# Debian policy 12.5 and 12.7: the copyright file, uncompressed, and the
# changelog. sanwatch is a native package (version without a Debian
# revision), so its Debian changelog is changelog.gz, gzip -9 -n like the man
# page. Its newest entry must name the package version: lintian_test.sh
# checks that (when the version moves, add an entry by hand or with
# `dch -c packaging/debian/changelog -v <version>` from devscripts).
configure_file(${_pkg_src}/debian/changelog ${_pkg_bin}/changelog COPYONLY)
execute_process(COMMAND gzip -9 -n -f -k ${_pkg_bin}/changelog RESULT_VARIABLE _gz)
if(NOT _gz EQUAL 0)
  message(FATAL_ERROR "gzip of ${_pkg_bin}/changelog failed")
endif()
install(FILES ${_pkg_src}/debian/copyright ${_pkg_bin}/changelog.gz DESTINATION share/doc/sanwatch)
# Lintian tags accepted on purpose, each with its reason in the file.
install(FILES ${_pkg_src}/debian/lintian-overrides DESTINATION share/lintian/overrides
        RENAME sanwatch)

# Written by others; optional so the build works with or without them. A
# CONFIGURE_DEPENDS glob (not if(EXISTS)) so that a file created after the
# first configure is picked up by the next build, and so by the next cpack.
set(_optional
    ${_pkg_src}/prometheus/sanwatch.rules.yml
    ${_pkg_src}/grafana/sanwatch-dashboard.json
    ${PROJECT_SOURCE_DIR}/docs/operations.md)
file(GLOB _present CONFIGURE_DEPENDS ${_optional})
foreach(_f IN LISTS _optional)
  if(NOT _f IN_LIST _present)
    continue()
  endif()
  get_filename_component(_dir ${_f} DIRECTORY)
  get_filename_component(_dir ${_dir} NAME)
  if(_dir STREQUAL "docs")
    install(FILES ${_f} DESTINATION share/doc/sanwatch)
  else()
    install(FILES ${_f} DESTINATION share/sanwatch/${_dir})
  endif()
endforeach()

# A placeholder list address with a real-looking domain (lintian's
# bogus-mail-host rejects localhost and other single-label hosts): replace it
# with the real list, here and in packaging/debian/{changelog,copyright},
# before the package is uploaded anywhere.
set(_default_maintainer "sanwatch maintainers <sanwatch-maintainers@lists.example.org>")
set(SANWATCH_PACKAGE_MAINTAINER "${_default_maintainer}"
    CACHE STRING "Maintainer field of the Debian package")
# Build trees configured before kept the old default, sanwatch@localhost, in
# their cache; move them to the new one (a value set by hand stays).
if(SANWATCH_PACKAGE_MAINTAINER STREQUAL "sanwatch maintainers <sanwatch@localhost>")
  set_property(CACHE SANWATCH_PACKAGE_MAINTAINER PROPERTY VALUE "${_default_maintainer}")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sanwatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${SANWATCH_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "block-I/O latency watchdog for SAN-attached hosts")
# Synopsis line from the summary; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "An agent that traces the block layer with BPF and sends O_DIRECT canary\n"
    "reads down every multipath map and path, turns what it sees into\n"
    "per-device states (ok, slow, stalled, failed, gone) within milliseconds,\n"
    "logs every change as JSON, serves Prometheus metrics and pushes alerts\n"
    "to Alertmanager. Runs as a sandboxed systemd service with CAP_BPF,\n"
    "CAP_PERFMON and CAP_SYS_ADMIN only.")
string(REPLACE ";" "" CPACK_DEBIAN_PACKAGE_DESCRIPTION "${CPACK_DEBIAN_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # sanwatch_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)   # dpkg-shlibdeps (dpkg-dev)
# adduser: postinst. procps: /bin/kill for ExecReload= (a minimal Debian 12,
# e.g. debootstrap --variant=minbase, has no /bin/kill).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")  # merged with the shlibdeps result
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_pkg_src}/debian/postinst ${_pkg_src}/debian/prerm ${_pkg_src}/debian/postrm
    ${_pkg_src}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)

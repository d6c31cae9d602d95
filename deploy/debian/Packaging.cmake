# The Debian package (scripts/package-deb.sh builds it with -DHEARTH_DEB=ON, then CPack):
# the binary, the systemd unit rendered for the package's paths, the docs, and maintainer
# scripts that create the `hearth` user, its state directory and a key-holding env file.
# Only in the package build: a plain `cmake --install` must not write to /lib/systemd.
set(HEARTH_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})
set(HEARTH_DEB_OUT ${PROJECT_BINARY_DIR}/deb)

# The one unit template deploy/systemd/hearth.service.in, with the package's paths (the setup
# script renders the same template with its own). No MemoryMax/CPUQuota: set them with
# `systemctl edit hearth` (docs/OPERATIONS.md).
set(USER hearth)
set(ENV_FILE /etc/hearth/hearth.env)
set(STATE_DIR /var/lib/hearth)
set(MODELS_DIR /var/lib/hearth/models)
set(BINARY /usr/bin/hearth)
set(MEMORY_MAX infinity)
set(CPU_QUOTA "")
configure_file(${PROJECT_SOURCE_DIR}/deploy/systemd/hearth.service.in ${HEARTH_DEB_OUT}/hearth.service @ONLY)
install(FILES ${HEARTH_DEB_OUT}/hearth.service DESTINATION /lib/systemd/system)

# Documentation: Debian wants the copyright file and a compressed changelog beside the docs.
configure_file(${HEARTH_DEB_DIR}/changelog.in ${HEARTH_DEB_OUT}/changelog @ONLY)
execute_process(COMMAND gzip -9nc ${HEARTH_DEB_OUT}/changelog
                OUTPUT_FILE ${HEARTH_DEB_OUT}/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
install(FILES ${HEARTH_DEB_DIR}/copyright ${HEARTH_DEB_OUT}/changelog.gz DESTINATION share/doc/hearth)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/hearth)
file(GLOB HEARTH_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${HEARTH_DOCS} DESTINATION share/doc/hearth/docs)

foreach(script postinst prerm postrm)
  configure_file(${HEARTH_DEB_DIR}/${script} ${HEARTH_DEB_OUT}/control/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hearth)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OpenAI-compatible LLM server for CPUs")
# CPack writes the summary as the synopsis and indents each line of this by one space.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "hearth serves GGUF language models on ordinary CPUs (AVX2, AVX-512, AMX\npicked at run time) through the OpenAI, Anthropic and Ollama APIs, with\ncontinuous batching, API keys, rate limits and a systemd unit.\n.\nAfter installing: sudo -u hearth hearth pull NAME, then\nsystemctl restart hearth. Settings live in /etc/hearth/hearth.env.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "hearth maintainers <maintainers@hearth.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/hearth-llm/hearth")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# useradd comes from passwd (Priority: required); the scripts need nothing else.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${HEARTH_DEB_OUT}/control/postinst ${HEARTH_DEB_OUT}/control/prerm ${HEARTH_DEB_OUT}/control/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
include(CPack)

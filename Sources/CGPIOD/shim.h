// libgpiod (libgpiod-dev): v1.6 on Debian 12 / Raspberry Pi OS bookworm, v2 on Debian 13 / trixie.
// Only LinuxBoard/GPIOD.swift (v1) or LinuxBoard/GPIOD2.swift (v2) uses it; Package.swift picks one.
#include <gpiod.h>

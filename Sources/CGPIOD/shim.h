// libgpiod v1.6 (Debian 12 / Raspberry Pi OS bookworm: libgpiod-dev). Only LinuxBoard/GPIOD.swift uses it.
#include <gpiod.h>

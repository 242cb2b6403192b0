import Firmware
import FirmloopCLI

// The firmloop binary: the command line with the stock firmware.
FirmloopCommand.main(firmware: .stock)

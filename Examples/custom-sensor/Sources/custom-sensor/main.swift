import CustomSensor
import FirmloopCLI
import Firmware

// Firmloop's command line for this firmware: the stock components and the probe.
FirmloopCommand.main(firmware: .stock.adding { TemperatureProbe(role: "probe") })

import Kernel
print("firmloop")

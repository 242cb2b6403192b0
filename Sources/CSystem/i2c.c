#include "csystem.h"
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>

int fl_i2c_funcs(int fd, unsigned long *funcs) { return ioctl(fd, I2C_FUNCS, funcs) < 0 ? -errno : 0; }

int fl_i2c_set_address(int fd, int address, int force) {
    return ioctl(fd, force ? I2C_SLAVE_FORCE : I2C_SLAVE, (unsigned long)address) < 0 ? -errno : 0;
}

int fl_i2c_smbus(int fd, int read, uint8_t command, int size, uint8_t *data) {
    union i2c_smbus_data d;
    memset(&d, 0, sizeof d);
    if (!read || size == I2C_SMBUS_I2C_BLOCK_DATA) memcpy(d.block, data, I2C_SMBUS_BLOCK_MAX + 2);
    struct i2c_smbus_ioctl_data args = {
        .read_write = read ? I2C_SMBUS_READ : I2C_SMBUS_WRITE,
        .command = command,
        .size = (uint32_t)size,
        .data = &d,
    };
    // SMBus "send byte" carries its byte in `command` and no data.
    if (size == I2C_SMBUS_BYTE && !read) args.data = NULL;
    if (ioctl(fd, I2C_SMBUS, &args) < 0) return -errno;
    if (read) memcpy(data, d.block, I2C_SMBUS_BLOCK_MAX + 2);
    return 0;
}

int fl_i2c_write_read(int fd, int address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen) {
    struct i2c_msg msgs[2] = {
        { .addr = (uint16_t)address, .flags = 0, .len = wlen, .buf = (uint8_t *)wbuf },
        { .addr = (uint16_t)address, .flags = I2C_M_RD, .len = rlen, .buf = rbuf },
    };
    struct i2c_rdwr_ioctl_data args = { .msgs = msgs, .nmsgs = rlen ? 2 : 1 };
    return ioctl(fd, I2C_RDWR, &args) < 0 ? -errno : 0;
}

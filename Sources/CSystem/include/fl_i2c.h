#ifndef FL_I2C_H
#define FL_I2C_H
#include <stdint.h>
#include <stddef.h>

/// Linux i2c-dev (linux/i2c-dev.h), for LinuxBoard's I2C roles. Every call returns 0 (or a
/// count) or -errno.

/// The adapter's functionality bits (I2C_FUNCS).
int fl_i2c_funcs(int fd, unsigned long *funcs);
/// The address later SMBus transfers go to (I2C_SLAVE; I2C_SLAVE_FORCE when `force`, for an
/// address a kernel driver has claimed).
int fl_i2c_set_address(int fd, int address, int force);
/// One SMBus transfer (I2C_SMBUS). `read`: 1 read, 0 write. `size`: I2C_SMBUS_BYTE (1),
/// BYTE_DATA (2), WORD_DATA (3), I2C_BLOCK_DATA (8). `data` holds up to 34 bytes: for a block,
/// data[0] is the length and data[1...] the bytes; a word is data[0] low, data[1] high.
int fl_i2c_smbus(int fd, int read, uint8_t command, int size, uint8_t *data);
/// A write then a read with a repeated start (I2C_RDWR); `rlen` 0: the write alone.
int fl_i2c_write_read(int fd, int address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * pwm-sim: a PWM chip with nothing behind it, for Firmloop's hardware-in-loop VM (hil/), as
 * gpio-sim is for GPIO. The platform device "pwm-sim" registers a chip of `npwm` channels
 * (default 2) with the PWM core, so the real sysfs interface (/sys/class/pwm/pwmchipN with
 * export, period, duty_cycle, polarity, enable) is the kernel's own; each channel's last
 * applied state also shows in /sys/module/pwm_sim/parameters/{enabled,period_ns,duty_ns},
 * which stay readable after the channel is unexported, so a test can see that a program
 * disabled it before it let go.
 *
 * Built out of tree by hil/vm/kernel-parts.sh against Debian's kernel headers (6.1).
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/pwm.h>
#include <linux/version.h>

#define PWM_SIM_MAX 8

static unsigned int npwm = 2;
module_param(npwm, uint, 0444);
MODULE_PARM_DESC(npwm, "channels (1 to 8)");

static bool enabled[PWM_SIM_MAX];
static unsigned long period_ns[PWM_SIM_MAX];
static unsigned long duty_ns[PWM_SIM_MAX];
static int n_enabled = PWM_SIM_MAX, n_period = PWM_SIM_MAX, n_duty = PWM_SIM_MAX;
module_param_array(enabled, bool, &n_enabled, 0444);
module_param_array(period_ns, ulong, &n_period, 0444);
module_param_array(duty_ns, ulong, &n_duty, 0444);

static int pwm_sim_apply(struct pwm_chip *chip, struct pwm_device *pwm, const struct pwm_state *state)
{
	unsigned int i = pwm->hwpwm;

	if (state->duty_cycle > state->period)
		return -EINVAL;
	enabled[i] = state->enabled;
	period_ns[i] = (unsigned long)state->period;
	duty_ns[i] = (unsigned long)state->duty_cycle;
	return 0;
}

static const struct pwm_ops pwm_sim_ops = {
	.apply = pwm_sim_apply,
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
	.owner = THIS_MODULE,
#endif
};

static int pwm_sim_probe(struct platform_device *pdev)
{
	struct pwm_chip *chip = devm_kzalloc(&pdev->dev, sizeof(*chip), GFP_KERNEL);

	if (!chip)
		return -ENOMEM;
	chip->dev = &pdev->dev;
	chip->ops = &pwm_sim_ops;
	chip->npwm = clamp(npwm, 1U, (unsigned int)PWM_SIM_MAX);
	return devm_pwmchip_add(&pdev->dev, chip);
}

static struct platform_driver pwm_sim_driver = {
	.probe = pwm_sim_probe,
	.driver = { .name = "pwm-sim" },
};

static struct platform_device *pwm_sim_device;

static int __init pwm_sim_init(void)
{
	int ret = platform_driver_register(&pwm_sim_driver);

	if (ret)
		return ret;
	pwm_sim_device = platform_device_register_simple("pwm-sim", PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(pwm_sim_device)) {
		platform_driver_unregister(&pwm_sim_driver);
		return PTR_ERR(pwm_sim_device);
	}
	return 0;
}

static void __exit pwm_sim_exit(void)
{
	platform_device_unregister(pwm_sim_device);
	platform_driver_unregister(&pwm_sim_driver);
}

module_init(pwm_sim_init);
module_exit(pwm_sim_exit);
MODULE_DESCRIPTION("A PWM chip with nothing behind it, for hardware-in-loop tests");
MODULE_LICENSE("GPL");

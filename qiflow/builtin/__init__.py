"""qiflow's own features, registered as plugins like any third-party one."""

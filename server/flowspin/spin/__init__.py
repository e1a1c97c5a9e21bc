"""Warm spins: worker (zygote) per flow file, fork-per-spin children, the `SpinService` facade.

`SpinService` lives in `flowspin.spin.service`, options and results in `.options`/`.result`.
"""

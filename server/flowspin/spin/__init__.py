"""Warm spins: worker (zygote) per flow file, fork-per-spin children, the `SpinService` facade.

`SpinService` lives in `flowspin.spin.service`, options and results in `.options`/`.result`.

`flowspin.spin` is both this package and the public function `flowspin.spin(flow_file, step,
...)`: once the package is imported, Python binds the name to the package, so the package
itself is made callable and forwards to `flowspin.spin.api.spin`.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing itself would cost the warm shell spin (see daemon/client.py)
    from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from flowspin.spin.api import spin

        return spin(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

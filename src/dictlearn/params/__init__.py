"""params.yaml: validated as a whole (schema.py), resolved per stage (resolve.py), switched
between profiles (profile.py)."""

from dictlearn.core.errors import ParamsError
from dictlearn.params.schema import Params, load_params, parse_params

__all__ = ["Params", "ParamsError", "load_params", "parse_params"]

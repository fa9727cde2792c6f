"""Search: `newsclf tune`, a hyperparameter search with Optuna over training runs (`study`),
its search space (`space`) and what it leaves behind (`results`)."""

from newsclf.search.space import DEFAULT_SPACE, read_space
from newsclf.search.study import SearchResult, tune

__all__ = ["DEFAULT_SPACE", "SearchResult", "read_space", "tune"]

"""Active-learning loops with modAL's API that run on current scikit-learn.

:class:`ActiveLearner` and :class:`Committee` are drop-ins for
``modAL.models.ActiveLearner`` / ``modAL.models.Committee`` (modAL-python
0.4.2.1): same constructor arguments, ``query``/``teach``/``fit``/``predict``/
``predict_proba``/``score``, ``X_training``/``y_training``, ``on_transformed``
and bootstrapping. Unlike modAL they call the query strategy exactly once
per query, accept both bare indices and ``(indices, scores)``, and pass the
labeled set and a seed to strategies that ask for them.

Learners that change what the model trains on, with the same API:
:class:`CEAL` (confident pool points, pseudo-labeled), :class:`BGADL`
(generated twins of acquired images) and :class:`SelectionViaProxy` (a
cheap proxy selects, the target learns).
"""

from ._bgadl import BGADL
from ._ceal import CEAL
from ._committee import Committee
from ._learner import ActiveLearner
from ._svp import SelectionViaProxy

__all__ = ["ActiveLearner", "BGADL", "CEAL", "Committee", "SelectionViaProxy"]

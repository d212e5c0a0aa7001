"""corel: connectivity-optimized representation learning (Hofer et al., ICML 2019)."""
from .detect import CorelDetector, count_neighbors
from .losses import ConnectivityLoss, DeathStats, death_stats, reconstruction_l1
from .persistence import Persistence0, mst_edges, vr_persistence, vr_persistence_0d, vr_persistence_l1

__version__ = "0.1.0"

__all__ = ["CorelDetector", "count_neighbors", "ConnectivityLoss", "DeathStats", "death_stats", "reconstruction_l1",
           "Persistence0", "mst_edges", "vr_persistence", "vr_persistence_0d", "vr_persistence_l1"]

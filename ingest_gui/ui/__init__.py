"""The PySide6 window: panels, dialogs and the QRunnable workers that drive the core."""

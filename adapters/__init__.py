"""One module per library or model family. Every public module's ``Adapter`` subclasses are
found by ``study.contract.registry``; modules starting with ``_`` hold shared helpers."""

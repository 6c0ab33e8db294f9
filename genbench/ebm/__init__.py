"""The energy-based family (model=ebm, ebm_image): its config checks; the module is genbench/modules/ebm.py."""

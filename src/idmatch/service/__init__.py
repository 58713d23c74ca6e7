"""The verification service: FastAPI app (:func:`idmatch.service.app.create_app`), started by ``idmatch serve``."""

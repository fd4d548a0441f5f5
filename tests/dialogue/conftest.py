"""Conversations through the trained Rasa model, with the real action server in a subprocess."""
import pytest

from tests.support import processes
from tests.support.database import demo_clinic_database
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def dialogue_db(tmp_path_factory, migrated_sqlite_template) -> str:
    """A migrated SQLite database with the demo clinic seeded now."""
    return demo_clinic_database(migrated_sqlite_template, tmp_path_factory.mktemp("dialogue") / "clinic.db")


@pytest.fixture(scope="session")
def action_server(dialogue_db, tmp_path_factory):
    """The action server on a free port, against the dialogue database; its webhook URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("dialogue-actions") / "action-server.log"
    with processes.stopping(processes.action_server(dialogue_db, port, log_path)) as process:
        try:
            process.wait_until_answering(processes.health_url(port), 60)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield processes.action_url(port)


@pytest.fixture(scope="session")
async def agent(trained_model, action_server):
    """The trained model, loaded once, calling the real action server."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    return await load_agent(model_path=str(trained_model),
                            endpoints=AvailableEndpoints(action=EndpointConfig(url=action_server)))
